"""``pass`` and ``mutate`` sessions, every protocol: a hop that pipes bytes both ways.

What the client sends is scanned on the side (:mod:`harness.relay.scan`) and each
command recorded as a ``received`` event in capture mode's format. What upstream
sends is passed on untouched, never re-framed (a Dovecot 2.4 backend may answer in
its multiplex stream); only its first line is copied into ``upstream_greeting``.
``mutate`` also rewrites the forwarding commands (:mod:`harness.relay.mutate`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.protocol.imap import ImapParseError, parse_id_args
from harness.protocol.imap import parse_command as parse_imap_command
from harness.protocol.pop3 import xoip_as_xclient
from harness.protocol.smtp import SmtpParseError, decode, parse_path_args, strip_eol
from harness.protocol.smtp import parse_command as parse_line_command
from harness.protocol.xclient import POP3, SMTP, ForwardError, decode_rcpt_forward
from harness.relay import imap, pop3, smtp
from harness.relay.mutate import Rewriter, rewriter_for
from harness.relay.net import pipe
from harness.relay.scan import CONTENT, MAX_LINE_BYTES, TLS, Scanner, Segment, scanner_for
from harness.relay.server import Handler, Session

MAX_RECORDED = 64 * 1024
"""A command's ``line`` is cut here (IMAP literals can be any size) and marked ``truncated``."""
REFUSALS = {
    "imap": imap.UPSTREAM_UNAVAILABLE,
    "pop3": pop3.UPSTREAM_UNAVAILABLE,
    "submission": smtp.UPSTREAM_UNAVAILABLE,
    "lmtp": smtp.UPSTREAM_UNAVAILABLE,
}


def pass_through(session: Session) -> None:
    """Pipe both ways unchanged, recording each command the client sends."""
    _run(session, None)


def mutate(session: Session) -> None:
    """As pass, but rewrite the forwarding commands on their way upstream."""
    _run(session, rewriter_for(session))


def _run(session: Session, rewriter: Rewriter | None) -> None:
    upstream = smtp.connect_upstream(session, REFUSALS[session.config.protocol])
    if upstream is None:
        return
    with upstream:
        client_stream = ClientStream(scanner_for(session.config.protocol), Recorder(session), rewriter)
        greeting = FirstLine(lambda line: session.emit("upstream_greeting", line=line))
        pipe(session.sock, upstream, session.config.timeout, client_stream, greeting)


HANDLERS: dict[str, Handler] = {"pass": pass_through, "mutate": mutate}


# --- the two directions --------------------------------------------------------------------------


class ClientStream:
    """Client to upstream: record every command; with a rewriter, change some on the way.

    Without one, ``feed`` returns the very bytes it was given, so nothing the scan
    holds back (an unfinished line) delays them.
    """

    def __init__(self, scanner: Scanner, recorder: Recorder, rewriter: Rewriter | None) -> None:
        self._scanner = scanner
        self._recorder = recorder
        self._rewriter = rewriter

    def feed(self, data: bytes) -> bytes:
        out = self._take(self._scanner.feed(data))
        return data if self._rewriter is None else out

    def flush(self) -> bytes:
        out = self._take(self._scanner.flush())
        return b"" if self._rewriter is None else out + self._rewriter.flush()

    def _take(self, segments: list[Segment]) -> bytes:
        out = bytearray()
        for segment in segments:
            self._recorder.take(segment)
            if self._rewriter is not None:
                out += self._rewriter.take(segment)
        return bytes(out)


class FirstLine:
    """Upstream to client: every byte as it came; the first line is reported once."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self._report = report
        self._buffer: bytearray | None = bytearray()

    def feed(self, data: bytes) -> bytes:
        if self._buffer is not None:
            self._buffer += data
            end = self._buffer.find(b"\n")
            if end >= 0 or len(self._buffer) > MAX_LINE_BYTES:
                self._finish(bytes(self._buffer[: end + 1] if end >= 0 else self._buffer[:MAX_LINE_BYTES]))
        return data

    def flush(self) -> bytes:
        if self._buffer:
            self._finish(bytes(self._buffer))
        return b""

    def _finish(self, line: bytes) -> None:
        self._buffer = None
        self._report(decode(strip_eol(line)))


# --- recording -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Description:
    """What a ``received`` event says about one command line.

    ``head``: tag/command, before ``pipelined``; ``detail``: after it. ``responses``:
    how many following client lines answer the server (SASL, IDLE), not commands.
    """

    head: dict[str, object]
    detail: dict[str, object] = field(default_factory=dict)
    responses: int = 0


class Recorder:
    """Turns the scanned pieces into ``received`` events, as capture mode records them."""

    def __init__(self, session: Session) -> None:
        self._session = session
        protocol = session.config.protocol
        self._describe = _DESCRIBERS[protocol]
        self._continuation_head: dict[str, object] = {"tag": None} if protocol == "imap" else {}
        self._command = bytearray()
        self._open = False
        self._truncated = False
        self._responses = 0
        self._tls = False

    def take(self, segment: Segment) -> None:
        if segment.kind == TLS:
            if not self._tls:
                self._tls = True
                self._session.emit("tls")
            return
        if segment.kind == CONTENT and not self._open:
            return
        self._open = True
        room = MAX_RECORDED - len(self._command)
        self._command += segment.raw[:room]
        self._truncated = self._truncated or len(segment.raw) > room
        if segment.last:
            self._record(decode(strip_eol(bytes(self._command))), segment.pipelined)
            self._command.clear()
            self._open = self._truncated = False

    def _record(self, text: str, pipelined: bool) -> None:
        if self._responses:
            self._responses = 0 if text == "*" else self._responses - 1
            head: dict[str, object] = {**self._continuation_head, "command": None}
            description = Description(head, {"continuation": True})
        else:
            description = self._describe(text)
            self._responses = description.responses
        fields = {"peer": self._session.peer, "line": text, **description.head, "pipelined": pipelined}
        fields.update(description.detail)
        if self._truncated:
            fields["truncated"] = True
        self._session.emit("received", **fields)


def sasl_responses(args: str) -> int:
    """How many lines a client sends to answer challenges after ``AUTH``/``AUTHENTICATE args``.

    A guess from the client side alone: LOGIN asks twice, other mechanisms once,
    less the initial response; a server that refuses the mechanism asks nothing.
    """
    mechanism, _, initial = args.partition(" ")
    if not mechanism:
        return 0
    asked = 2 if mechanism.upper() == "LOGIN" else 1
    return asked - 1 if initial else asked


def _describe_imap(text: str) -> Description:
    try:
        command = parse_imap_command(text)
    except ImapParseError as err:
        return Description({"tag": None, "command": None}, {"parse_error": str(err)})
    detail = _id_detail(command.args) if command.name == "ID" else {}
    responses = {"AUTHENTICATE": sasl_responses(command.args), "IDLE": 1}.get(command.name, 0)
    return Description({"tag": command.tag, "command": command.name}, detail, responses)


def _id_detail(args: str) -> dict[str, object]:
    try:
        return {"id": [list(pair) for pair in parse_id_args(args)]}
    except ImapParseError as err:
        return {"id_error": str(err)}


def _describe_pop3(text: str) -> Description:
    try:
        command = parse_line_command(text)
    except SmtpParseError as err:
        return Description({"command": None}, {"parse_error": str(err)})
    detail: dict[str, object] = {}
    if command.name == "XCLIENT":
        detail = smtp.xclient_event_fields(text, POP3)
    elif command.name == "XOIP":
        detail = smtp.xclient_event_fields(xoip_as_xclient(command.args), POP3)
    responses = sasl_responses(command.args) if command.name == "AUTH" else 0
    return Description({"command": command.name}, detail, responses)


def _describe_smtp(text: str) -> Description:
    try:
        command = parse_line_command(text)
    except SmtpParseError as err:
        return Description({"command": None}, {"parse_error": str(err)})
    detail: dict[str, object] = {}
    if command.name == "XCLIENT":
        detail = smtp.xclient_event_fields(text, SMTP)
    elif command.name == "RCPT":
        detail = _rcpt_detail(command.args)
    responses = sasl_responses(command.args) if command.name == "AUTH" else 0
    return Description({"command": command.name}, detail, responses)


def _rcpt_detail(args: str) -> dict[str, object]:
    try:
        value = parse_path_args(args, "TO:").param(smtp.RCPT_FORWARD_PARAM)
    except SmtpParseError as err:
        return {"parse_error": str(err)}
    if value is None:
        return {}
    try:
        return {"forward": [list(pair) for pair in decode_rcpt_forward(value)]}
    except ForwardError as err:
        return {"forward_error": str(err)}


_DESCRIBERS: dict[str, Callable[[str], Description]] = {
    "imap": _describe_imap,
    "pop3": _describe_pop3,
    "submission": _describe_smtp,
    "lmtp": _describe_smtp,
}
