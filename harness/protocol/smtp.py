"""SMTP/LMTP pieces the harness needs: line framing, commands, replies, EHLO capabilities.

Pure code: no sockets, no I/O. The line framer also serves POP3, whose commands and
replies are CRLF lines too. Text is bytes as :mod:`harness.protocol.wire` decodes them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.protocol.wire import decode, encode, strip_eol

MAX_LINE_BYTES = 64 * 1024
_REPLY_RE = re.compile(r"([2-5][0-9][0-9])([ -])(.*)\Z", re.DOTALL)


class SmtpParseError(ValueError):
    """A line is not valid for the SMTP construct being parsed."""


class LineTooLongError(SmtpParseError):
    """A line exceeds the framer's limit; the stream cannot be resynchronised."""


# --- framing ------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One received line: ``text`` without its ending, ``raw`` exactly as received.

    ``pipelined``: more bytes were already buffered behind it when it completed.
    """

    text: str
    raw: bytes
    pipelined: bool


class LineFramer:
    """Split a byte stream into lines ending at LF (with or without CR)."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._buffer = bytearray()
        self._scanned = 0

    def feed(self, data: bytes) -> list[Line]:
        """Add received bytes; return the lines they complete, in order.

        Raises LineTooLongError when a line exceeds the limit.
        """
        self._buffer += data
        lines: list[Line] = []
        while True:
            end = self._buffer.find(b"\n", self._scanned)
            if end < 0:
                self._scanned = len(self._buffer)
                self._check_size(len(self._buffer))
                return lines
            self._check_size(end + 1)
            raw = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            self._scanned = 0
            lines.append(Line(decode(strip_eol(raw)), raw, bool(self._buffer)))

    def take_buffer(self) -> bytes:
        """Hand back the bytes of an unfinished line, and reset."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        self._scanned = 0
        return rest

    def _check_size(self, size: int) -> None:
        if size > self.max_line_bytes:
            raise LineTooLongError(f"line of {size} bytes exceeds the limit of {self.max_line_bytes}")


# --- commands ------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A command line split into its upper-cased verb and the raw rest."""

    name: str
    args: str


def parse_command(line: str) -> Command:
    """Split ``VERB args``; SmtpParseError for an empty line or one starting with a space."""
    name, _, args = line.partition(" ")
    if not name:
        raise SmtpParseError(f"empty command line or no verb: {line!r}")
    return Command(name.upper(), args)


Param = tuple[str, str | None]
"""An ESMTP parameter: upper-cased keyword and raw value (None when there is no ``=``)."""


@dataclass(frozen=True)
class PathCommand:
    """The arguments of MAIL FROM / RCPT TO: the path as sent and its parameters."""

    path: str
    params: tuple[Param, ...]

    def param(self, keyword: str) -> str | None:
        """The raw value of the first ``keyword`` parameter, or None."""
        wanted = keyword.upper()
        return next((value for key, value in self.params if key == wanted and value is not None), None)


def parse_path_args(args: str, prefix: str) -> PathCommand:
    """Parse ``FROM:<path> params`` (``prefix`` = ``FROM:``) or ``TO:<path> params``.

    The path may be quoted (``<"a b"@x>``) and is kept as sent, brackets included.
    """
    if args[: len(prefix)].upper() != prefix.upper():
        raise SmtpParseError(f"expected {prefix}<path>, got {args!r}")
    rest = args[len(prefix) :].lstrip(" ")
    end = _path_end(rest)
    params = tuple(_param(token) for token in rest[end:].split(" ") if token)
    return PathCommand(rest[:end], params)


def _path_end(text: str) -> int:
    if not text.startswith("<"):
        space = text.find(" ")
        return len(text) if space < 0 else space
    quoted = False
    pos = 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and quoted:
            pos += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == ">" and not quoted:
            return pos + 1
        pos += 1
    raise SmtpParseError(f"unterminated <path>: {text!r}")


def _param(token: str) -> Param:
    keyword, equals, value = token.partition("=")
    if not keyword:
        raise SmtpParseError(f"ESMTP parameter without a keyword: {token!r}")
    return (keyword.upper(), value if equals else None)


def format_param(keyword: str, value: str | None) -> str:
    return keyword if value is None else f"{keyword}={value}"


# --- replies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyLine:
    """One reply line: code, whether it is the last line (``250 `` not ``250-``), text."""

    code: int
    last: bool
    text: str


def parse_reply_line(line: str) -> ReplyLine:
    """Parse ``250-text`` / ``250 text`` / a bare ``250``; SmtpParseError otherwise."""
    match = _REPLY_RE.match(line)
    if match:
        return ReplyLine(int(match.group(1)), match.group(2) == " ", match.group(3))
    if len(line) == 3 and _REPLY_RE.match(line + " "):
        return ReplyLine(int(line), True, "")
    raise SmtpParseError(f"not an SMTP reply line: {line!r}")


def format_reply(code: int, texts: Sequence[str]) -> list[str]:
    """Reply lines: ``250-a``, ``250-b``, ``250 c``; one line for one text."""
    if not texts:
        raise ValueError("a reply needs at least one line of text")
    last = len(texts) - 1
    return [f"{code}{' ' if index == last else '-'}{text}" for index, text in enumerate(texts)]


def reply_code(lines: Sequence[str]) -> int:
    """The code of a whole reply (its last line)."""
    return parse_reply_line(lines[-1]).code


# --- EHLO / LHLO ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EhloReply:
    """A 250 reply to EHLO/LHLO: the greeting line and the keywords with their parameters."""

    greeting: str
    keywords: tuple[tuple[str, tuple[str, ...]], ...]

    def params(self, keyword: str) -> tuple[str, ...] | None:
        """The parameters of ``keyword`` (upper-cased lookup), or None if not advertised."""
        wanted = keyword.upper()
        return next((params for key, params in self.keywords if key == wanted), None)

    def has(self, keyword: str) -> bool:
        return self.params(keyword) is not None

    @property
    def xclient(self) -> tuple[str, ...] | None:
        """The attributes advertised by ``XCLIENT`` (upper-cased), or None without XCLIENT."""
        params = self.params("XCLIENT")
        return None if params is None else tuple(param.upper() for param in params)

    @property
    def xrcptforward(self) -> bool:
        return self.has("XRCPTFORWARD")


def parse_ehlo_reply(lines: Sequence[str]) -> EhloReply:
    """Parse the reply lines (``250-host``, ``250-XCLIENT ADDR ...``, ``250 XRCPTFORWARD``).

    SmtpParseError if a line is not a 250 reply line or the continuation marks are wrong.
    """
    if not lines:
        raise SmtpParseError("empty EHLO reply")
    parsed = [parse_reply_line(line) for line in lines]
    for index, reply in enumerate(parsed):
        if reply.code != 250:
            raise SmtpParseError(f"EHLO reply line is not 250: {lines[index]!r}")
        if reply.last != (index == len(parsed) - 1):
            raise SmtpParseError(f"EHLO reply continuation marks are wrong at {lines[index]!r}")
    keywords = []
    for reply in parsed[1:]:
        words = reply.text.split()
        if words:
            keywords.append((words[0].upper(), tuple(words[1:])))
    return EhloReply(parsed[0].text, tuple(keywords))


# --- SASL ------------------------------------------------------------------------------------


def decode_sasl_base64(text: str) -> str:
    """A SASL response (``=`` is the empty one) decoded; SmtpParseError if not base64."""
    if text == "=":
        return ""
    try:
        return decode(base64.b64decode(text.encode("ascii"), validate=True))
    except (UnicodeEncodeError, binascii.Error):
        raise SmtpParseError(f"invalid base64 in SASL response: {text!r}") from None


def decode_sasl_plain(text: str) -> tuple[str, str, str]:
    """``(authzid, authcid, password)`` from a base64 PLAIN response (RFC 4616)."""
    parts = decode_sasl_base64(text).split("\0")
    if len(parts) != 3:
        raise SmtpParseError("PLAIN response is not authzid NUL authcid NUL password")
    return (parts[0], parts[1], parts[2])


# --- DATA -------------------------------------------------------------------------------------


def is_data_end(line: str) -> bool:
    """Whether a DATA line (without its ending) is the terminating ``.``."""
    return line == "."


def unstuff(line: str) -> str:
    """A DATA line with its dot-stuffing (RFC 5321 4.5.2) removed."""
    return line[1:] if line.startswith(".") else line


# --- rewriting a client's commands in flight ----------------------------------------------

_BDAT_RE = re.compile(r"BDAT +([0-9]+)( +LAST)? *\Z", re.IGNORECASE)


def bdat_size(line: str) -> int | None:
    """The chunk size of a ``BDAT <size> [LAST]`` command line, or None for any other line."""
    match = _BDAT_RE.match(line)
    return int(match.group(1)) if match else None


def add_rcpt_param(line: str, keyword: str, value: str) -> str | None:
    """``line`` (a RCPT TO command) with `` KEYWORD=value`` appended.

    None when the line is no RCPT, cannot be parsed, or already has the parameter.
    """
    try:
        command = parse_command(line)
        if command.name != "RCPT" or parse_path_args(command.args, "TO:").param(keyword) is not None:
            return None
    except SmtpParseError:
        return None
    return f"{line.rstrip(' ')} {format_param(keyword, value)}"


class RcptParamAdder:
    """Stream filter for client-to-server SMTP/LMTP bytes: adds a parameter to every RCPT.

    Message content passes unchanged: DATA up to the ``.`` line, and BDAT chunks by
    their size. It does not see server replies, so after a DATA the server refused
    (no 354) it stays in content mode until a ``.`` line; a client then resets or
    quits, so nothing but later RCPTs in that session go unchanged.
    """

    def __init__(self, keyword: str, value: str, on_rewrite: Callable[[str, str], None] | None = None) -> None:
        self.keyword = keyword
        self.value = value
        self._on_rewrite = on_rewrite
        self._buffer = bytearray()
        self._in_data = False
        self._chunk_left = 0

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        out = bytearray()
        while self._buffer:
            if self._chunk_left:
                taken = bytes(self._buffer[: self._chunk_left])
                del self._buffer[: len(taken)]
                self._chunk_left -= len(taken)
                out += taken
                continue
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            line = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            out += self._line(line)
        return bytes(out)

    def flush(self) -> bytes:
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest

    def _line(self, raw: bytes) -> bytes:
        text = decode(strip_eol(raw))
        if self._in_data:
            self._in_data = not is_data_end(text)
            return raw
        verb = text.split(" ", 1)[0].upper()
        if verb == "DATA":
            self._in_data = True
        elif verb == "BDAT":
            self._chunk_left = bdat_size(text) or 0
        rewritten = add_rcpt_param(text, self.keyword, self.value)
        if rewritten is None:
            return raw
        if self._on_rewrite is not None:
            self._on_rewrite(text, rewritten)
        return encode(rewritten) + raw[len(strip_eol(raw)) :]


# --- replies as a client reads them -------------------------------------------------------

LHLO = "LHLO"


def reply_continues(line: str) -> bool:
    """Whether a reply line announces another line (``250-...``); a line that is no reply line ends the reply."""
    try:
        return not parse_reply_line(line).last
    except SmtpParseError:
        return False


def reply_status(lines: Sequence[str]) -> str:
    """The code of a reply (its last line's) as text; for a line that is no reply line, its first three
    characters, which is what a client can show of it."""
    try:
        return str(reply_code(lines))
    except SmtpParseError:
        return lines[-1][:3]


@dataclass(frozen=True)
class Reply:
    """A whole reply as a client received it."""

    lines: tuple[str, ...]

    @property
    def last(self) -> str:
        return self.lines[-1]

    @property
    def status(self) -> str:
        return reply_status(self.lines)

    @property
    def positive(self) -> bool:
        """2yz: the command completed."""
        return self.status.startswith("2")

    @property
    def intermediate(self) -> bool:
        """3yz: go on (``354`` after DATA)."""
        return self.status.startswith("3")


def advertised_xclient(lines: Sequence[str]) -> str | None:
    """The attributes an EHLO/LHLO reply lists after ``XCLIENT``, space-separated as sent (case kept); ``""``
    when it lists none; None without an XCLIENT line or when the reply is no 250 reply."""
    reply = _ehlo_or_none(lines)
    params = None if reply is None else reply.params("XCLIENT")
    return None if params is None else " ".join(params)


def advertised_keywords(lines: Sequence[str]) -> str | None:
    """The extension keywords an EHLO/LHLO reply lists, upper-cased, space-separated in the server's order and
    without their parameters (`PIPELINING 8BITMIME XCLIENT`); None when the reply is no 250 reply."""
    reply = _ehlo_or_none(lines)
    return None if reply is None else " ".join(name for name, _ in reply.keywords)


def _ehlo_or_none(lines: Sequence[str]) -> EhloReply | None:
    try:
        return parse_ehlo_reply(lines)
    except SmtpParseError:
        return None


def data_reply_count(hello: str, accepted: int) -> int:
    """How many replies follow the end of DATA: LMTP (``LHLO``) answers once per accepted recipient
    (RFC 2033 4.2), SMTP once."""
    return accepted if hello.upper() == LHLO else 1
