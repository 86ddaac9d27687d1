"""IMAP pieces the harness needs: the ID command (RFC 2971) and command framing.

Pure code: no sockets, no I/O. Text is bytes as :mod:`harness.protocol.wire` decodes
them, so ``encode(decode(b)) == b`` for any bytes ``b``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from harness.protocol.wire import decode, encode, strip_eol

IdField = tuple[str, str | None]
"""One ID key/value pair; a value of None stands for NIL."""

MAX_COMMAND_BYTES = 64 * 1024
TTL_KEY = "x-proxy-ttl"
FORWARD_PREFIX = "x-forward-"

_LITERAL_RE = re.compile(rb"\{([0-9]+)(\+?)\}\Z")
_QUOTED_SPECIALS = frozenset(b'"\\')
_NOT_QUOTABLE = {"\r": "CR", "\n": "LF", "\x00": "NUL"}
# Bytes that end an atom: SP, CTLs, DEL and the IMAP atom-specials that matter here.
_ATOM_END = frozenset(range(0x21)) | frozenset(b'(){"\\\x7f')
_SP = 0x20
_NUMBER_RE = re.compile(r"-?[0-9]+\Z")


class ImapParseError(ValueError):
    """Input is not valid IMAP for the construct being parsed."""


class ImapFramingError(ImapParseError):
    """The byte stream cannot be framed (a command over the limit, a bad literal)."""


# --- ID: formatting ---------------------------------------------------------


def quote_string(value: str) -> str:
    """``value`` as an IMAP quoted string; ValueError if it holds CR, LF or NUL."""
    for char, name in _NOT_QUOTABLE.items():
        if char in value:
            raise ValueError(f"{name} cannot appear in an IMAP quoted string")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_id_args(fields: Sequence[IdField]) -> str:
    """The argument of ID: ``("k" "v" ...)``, or ``NIL`` when there are no fields."""
    if not fields:
        return "NIL"
    items: list[str] = []
    for key, value in fields:
        try:
            items.append(quote_string(key))
            items.append("NIL" if value is None else quote_string(value))
        except ValueError as err:
            raise ValueError(f"ID field {key!r}: {err}") from None
    return "(" + " ".join(items) + ")"


def format_id(fields: Sequence[IdField], tag: str = "I") -> str:
    """A whole ID command line without CRLF: ``I ID ("k" "v" "k2" NIL)``."""
    return f"{tag} ID {format_id_args(fields)}"


# --- ID: parsing --------------------------------------------------------------


class _Reader:
    """A cursor over the bytes of an ID argument."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def peek(self) -> int | None:
        return None if self.at_end() else self.data[self.pos]

    def skip_spaces(self) -> int:
        start = self.pos
        while self.peek() == _SP:
            self.pos += 1
        return self.pos - start

    def fail(self, message: str) -> ImapParseError:
        return ImapParseError(f"{message} at offset {self.pos}")


def parse_id_args(text: str) -> list[IdField]:
    """Parse the argument of ID: ``NIL`` or ``(key value ...)`` with literals inlined.

    Keys keep their case and order, duplicates are kept. Raises ImapParseError.
    """
    reader = _Reader(encode(text))
    reader.skip_spaces()
    if reader.at_end():
        raise ImapParseError("empty ID argument: expected NIL or a list")
    if reader.peek() == ord("("):
        reader.pos += 1
        items = _read_list_items(reader)
    else:
        if _read_item(reader) is not None:
            raise ImapParseError("ID argument must be NIL or a parenthesised list")
        items = []
    reader.skip_spaces()
    if not reader.at_end():
        raise reader.fail("trailing garbage after ID argument")
    return _pair_up(items)


def _read_list_items(reader: _Reader) -> list[str | None]:
    items: list[str | None] = []
    while True:
        spaced = reader.skip_spaces()
        char = reader.peek()
        if char is None:
            raise reader.fail("unterminated list: missing ')'")
        if char == ord(")"):
            reader.pos += 1
            return items
        if items and not spaced:
            raise reader.fail("expected a space between list items")
        items.append(_read_item(reader))


def _pair_up(items: list[str | None]) -> list[IdField]:
    if len(items) % 2:
        raise ImapParseError(f"ID list has an odd number of items ({len(items)})")
    fields: list[IdField] = []
    for index in range(0, len(items), 2):
        key = items[index]
        if key is None:
            raise ImapParseError(f"ID key #{index // 2 + 1} is NIL")
        fields.append((key, items[index + 1]))
    return fields


def _read_item(reader: _Reader) -> str | None:
    """One string item: quoted, literal or atom; None for NIL."""
    char = reader.peek()
    if char is None:
        raise reader.fail("expected a string, found end of input")
    if char == ord('"'):
        return _read_quoted(reader)
    if char == ord("{"):
        return _read_literal(reader)
    if char in (ord("("), ord(")")):
        raise reader.fail(f"unexpected {chr(char)!r}")
    return _read_atom(reader)


def _read_quoted(reader: _Reader) -> str:
    start = reader.pos
    reader.pos += 1
    out = bytearray()
    while True:
        char = reader.peek()
        if char is None or char in (0x0D, 0x0A):
            raise ImapParseError(f"unterminated quoted string starting at offset {start}")
        if char == 0:
            raise reader.fail("NUL in quoted string")
        reader.pos += 1
        if char == ord('"'):
            return decode(bytes(out))
        if char == ord("\\"):
            escaped = reader.peek()
            if escaped is None or escaped not in _QUOTED_SPECIALS:
                raise reader.fail("backslash must escape '\"' or '\\' in a quoted string")
            reader.pos += 1
            char = escaped
        out.append(char)


def _read_literal(reader: _Reader) -> str:
    close = reader.data.find(b"}", reader.pos)
    spec = reader.data[reader.pos + 1 : close] if close >= 0 else b""
    digits = spec[:-1] if spec.endswith(b"+") else spec
    if close < 0 or not digits.isdigit():
        raise reader.fail("bad literal length")
    reader.pos = close + 1
    if reader.data.startswith(b"\r\n", reader.pos):
        reader.pos += 2
    elif reader.peek() == 0x0A:
        reader.pos += 1
    else:
        raise reader.fail("literal length must be followed by CRLF")
    size = int(digits)
    available = len(reader.data) - reader.pos
    if size > available:
        raise reader.fail(f"literal of {size} bytes but only {available} follow")
    value = reader.data[reader.pos : reader.pos + size]
    reader.pos += size
    return decode(value)


def _read_atom(reader: _Reader) -> str | None:
    start = reader.pos
    while not reader.at_end() and reader.data[reader.pos] not in _ATOM_END:
        reader.pos += 1
    if reader.pos == start:
        raise reader.fail(f"unexpected character {chr(reader.data[start])!r}")
    atom = decode(reader.data[start : reader.pos])
    return None if atom.upper() == "NIL" else atom


# --- ID: rewriting (a faulty hop) -------------------------------------------------


def rewrite_id_fields(
    fields: Sequence[IdField],
    *,
    drop: Collection[str] = (),
    drop_forward: Collection[str] = (),
    ttl_delta: int = 0,
    set_fields: Sequence[IdField] = (),
) -> list[IdField]:
    """ID fields as a faulty hop would pass them on; keys compare case-insensitively.

    In this order: remove the ``drop`` keys and ``x-forward-<name>`` for each
    ``drop_forward`` name, add ``ttl_delta`` to each numeric ``x-proxy-ttl``, then
    for each ``set_fields`` pair replace the value of every field with that key, or
    append the pair when there is none.
    """
    dropped = {key.lower() for key in drop} | {FORWARD_PREFIX + name.lower() for name in drop_forward}
    result = [(key, _add_to_ttl(key, value, ttl_delta)) for key, value in fields if key.lower() not in dropped]
    for set_key, set_value in set_fields:
        matches = [index for index, (key, _) in enumerate(result) if key.lower() == set_key.lower()]
        for index in matches:
            result[index] = (result[index][0], set_value)
        if not matches:
            result.append((set_key, set_value))
    return result


def _add_to_ttl(key: str, value: str | None, delta: int) -> str | None:
    if not delta or key.lower() != TTL_KEY or value is None or not _NUMBER_RE.match(value):
        return value
    return str(int(value) + delta)


def rewrite_id_command(text: str, change: Callable[[list[IdField]], list[IdField]]) -> str:
    """An ID command (without its final line ending, literals inlined) with its fields changed.

    The text comes back unchanged, byte for byte, when ``change`` leaves the fields as
    they were. Otherwise the tag and the command name keep their spelling and the fields
    are written as quoted strings. ImapParseError if ``text`` is no ID command or its
    argument does not parse; ValueError if a new value cannot be quoted.
    """
    command = parse_command(text)
    if command.name != "ID":
        raise ImapParseError(f"not an ID command: {command.name}")
    fields = parse_id_args(command.args)
    changed = change(list(fields))
    if changed == fields:
        return text
    tag, _, rest = text.partition(" ")
    return f"{tag} {rest.partition(' ')[0]} {format_id_args(changed)}"


# --- Commands -------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A command line split into tag, upper-cased name and the raw rest."""

    tag: str
    name: str
    args: str


def parse_command(line: str) -> Command:
    """Split a command line (without CRLF) into tag, name and arguments."""
    if not line:
        raise ImapParseError("empty command line")
    tag, _, rest = line.partition(" ")
    if not tag:
        raise ImapParseError("command line starts with a space: missing tag")
    name, _, args = rest.partition(" ")
    if not name:
        raise ImapParseError(f"command {tag!r} has no name")
    return Command(tag=tag, name=name.upper(), args=args)


def literal_length(line: bytes) -> int | None:
    """n if ``line`` (with or without its line ending) ends with ``{n}`` or ``{n+}``."""
    match = _LITERAL_RE.search(strip_eol(line))
    return int(match.group(1)) if match else None


def is_nonsync_literal(line: bytes) -> bool:
    """Whether ``line`` ends with a LITERAL+ ``{n+}``, which needs no continuation."""
    match = _LITERAL_RE.search(strip_eol(line))
    return bool(match and match.group(2))


# --- Framing ----------------------------------------------------------------------


@dataclass(frozen=True)
class FramedCommand:
    """One complete command (or response line) with its literals.

    ``raw`` is exactly what was received, line ending included; ``text`` is it decoded
    without the final line ending (CRLFs inside literals are kept). ``pipelined``: more
    bytes were already buffered behind this command when it completed.
    """

    text: str
    raw: bytes
    pipelined: bool


@dataclass(frozen=True)
class NeedContinuation:
    """A synchronizing literal ``{n}`` was announced: the peer waits for ``+ ...``."""

    size: int


FramerEvent = FramedCommand | NeedContinuation


class CommandFramer:
    """Split a byte stream into IMAP commands, reading literals by their length.

    Works for server responses too (a response literal yields a NeedContinuation
    the reader simply ignores). A line ends at LF, with or without CR.
    """

    def __init__(self, max_command_bytes: int = MAX_COMMAND_BYTES) -> None:
        self.max_command_bytes = max_command_bytes
        self._buffer = bytearray()
        self._command = bytearray()
        self._literal_left = 0
        self._scanned = 0

    def feed(self, data: bytes) -> list[FramerEvent]:
        """Add received bytes; return the events they complete, in order.

        Raises ImapFramingError when a command exceeds the limit; the stream
        cannot be resynchronised after that, so the caller should hang up.
        """
        self._buffer += data
        events: list[FramerEvent] = []
        while self._step(events):
            pass
        return events

    def take_buffer(self) -> bytes:
        """Hand back every byte not yet returned in an event, and reset."""
        rest = bytes(self._command + self._buffer)
        self._buffer.clear()
        self._command.clear()
        self._literal_left = 0
        self._scanned = 0
        return rest

    def _step(self, events: list[FramerEvent]) -> bool:
        if self._literal_left:
            return self._consume_literal()
        end = self._buffer.find(b"\n", self._scanned)
        if end < 0:
            self._scanned = len(self._buffer)
            self._check_size(len(self._command) + len(self._buffer))
            return False
        line = bytes(self._buffer[: end + 1])
        del self._buffer[: end + 1]
        self._scanned = 0
        self._command += line
        self._check_size(len(self._command))
        self._end_line(line, events)
        return True

    def _consume_literal(self) -> bool:
        taken = self._buffer[: self._literal_left]
        del self._buffer[: len(taken)]
        self._command += taken
        self._literal_left -= len(taken)
        return not self._literal_left

    def _end_line(self, line: bytes, events: list[FramerEvent]) -> None:
        size = literal_length(line)
        if size is None:
            raw = bytes(self._command)
            self._command.clear()
            events.append(FramedCommand(decode(strip_eol(raw)), raw, bool(self._buffer)))
            return
        self._check_size(len(self._command) + size)
        self._literal_left = size
        if not is_nonsync_literal(line):
            events.append(NeedContinuation(size))

    def _check_size(self, size: int) -> None:
        if size > self.max_command_bytes:
            raise ImapFramingError(f"command of {size} bytes exceeds the limit of {self.max_command_bytes}")


# --- Responses ----------------------------------------------------------------------

UNTAGGED = "*"


@dataclass(frozen=True)
class Response:
    """A server response line split at its first two spaces: tag (``*`` when untagged), status word, text.

    ``line`` is the whole line as received. Nothing is upper-cased: a client records what the server sent.
    """

    tag: str
    status: str
    text: str
    line: str

    @property
    def untagged(self) -> bool:
        return self.tag == UNTAGGED

    @property
    def after_tag(self) -> str:
        """The line without its tag and the space after it: ``OK [CAPABILITY ...] Logged in``."""
        return self.line[len(self.tag) + 1 :]

    def completes(self, tag: str) -> bool:
        """Whether this is the tagged reply to the command tagged ``tag`` (a tag alone on a line is not)."""
        return self.tag == tag and len(self.line) > len(tag)

    @property
    def is_bye(self) -> bool:
        """``* BYE text``: the server is about to close the connection."""
        return self.untagged and self.status == "BYE"


def parse_response_line(line: str) -> Response:
    """Split a response line (without CRLF) into tag, status and text; never raises, any line splits."""
    tag, _, rest = line.partition(" ")
    status, _, text = rest.partition(" ")
    return Response(tag, status, text, line)


def greeting_status(line: str) -> str:
    """The status word of a greeting (``* OK ...`` -> ``OK``, ``* BYE ...`` -> ``BYE``); a line without a space
    is its own status."""
    return parse_response_line(line).status if " " in line else line
