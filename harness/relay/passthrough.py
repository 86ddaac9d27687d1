"""``pass`` and ``mutate`` sessions, every protocol: a hop that pipes bytes both ways.

What the client sends is scanned on the side (:mod:`harness.relay.scan`) and each
command recorded as a ``received`` event in capture mode's format. What upstream
sends is passed on untouched, never re-framed (a Dovecot 2.4 backend may answer in
its multiplex stream); only its first line is copied into ``upstream_greeting``.
``mutate`` also rewrites the forwarding commands (:mod:`harness.relay.mutate`).
What differs between wire families comes in as a :class:`~harness.relay.wires.Wire`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from harness.protocol.imap import Command as ImapCommand
from harness.protocol.smtp import Command as LineCommand
from harness.protocol.wire import decode, strip_eol
from harness.relay.mutate import Rewriter, rewriter_for
from harness.relay.net import pipe
from harness.relay.received import Received, continuation
from harness.relay.scan import CONTENT, MAX_LINE_BYTES, TLS, Scanner, Segment
from harness.relay.server import Handler, Session
from harness.relay.upstream import connect_upstream
from harness.relay.wires import Wire

MAX_RECORDED = 64 * 1024
"""A command's ``line`` is cut here (IMAP literals can be any size) and marked ``truncated``."""


def pass_through(session: Session, wire: Wire) -> None:
    """Pipe both ways unchanged, recording each command the client sends."""
    _run(session, wire, None)


def mutate(session: Session, wire: Wire) -> None:
    """As pass, but rewrite the forwarding commands on their way upstream."""
    _run(session, wire, rewriter_for(session, wire.rewriter))


def _run(session: Session, wire: Wire, rewriter: Rewriter | None) -> None:
    upstream = connect_upstream(session, wire.refusal)
    if upstream is None:
        return
    with upstream:
        client_stream = ClientStream(wire.scanner(), Recorder(session, wire), rewriter)
        greeting = FirstLine(lambda line: session.emit("upstream_greeting", line=line))
        pipe(session.sock, upstream, session.config.timeout, client_stream, greeting)


def handlers(wire: Wire) -> dict[str, Handler]:
    """The ``pass`` and ``mutate`` handlers of one wire family."""
    return {"pass": functools.partial(pass_through, wire=wire), "mutate": functools.partial(mutate, wire=wire)}


# --- the two directions --------------------------------------------------------------------------


class ClientStream:
    """Client to upstream: record every command; with a rewriter, change some on the way.

    Without one, ``feed`` returns the very bytes it was given, so nothing the scan
    holds back (an unfinished line) delays them, and they are scanned and recorded in
    ``after_send``, once the pump has sent them: the record is not on their way, and it is
    still written before the pump forwards anything upstream answers.
    """

    def __init__(self, scanner: Scanner, recorder: Recorder, rewriter: Rewriter | None) -> None:
        self._scanner = scanner
        self._recorder = recorder
        self._rewriter = rewriter
        self._unscanned: list[bytes] = []

    def feed(self, data: bytes) -> bytes:
        if self._rewriter is None:
            self._unscanned.append(data)
            return data
        return self._take(self._scanner.feed(data))

    def after_send(self) -> None:
        for data in self._unscanned:
            self._take(self._scanner.feed(data))
        self._unscanned.clear()

    def flush(self) -> bytes:
        self.after_send()
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


class Recorder:
    """Turns the scanned pieces into ``received`` events, as capture mode records them."""

    def __init__(self, session: Session, wire: Wire) -> None:
        self._session = session
        self._describe = wire.describe
        self._answers = wire.answers
        self._continuation = continuation(tagged=session.config.row.tagged)
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
        received: Received[ImapCommand] | Received[LineCommand]
        if self._responses:
            self._responses = 0 if text == "*" else self._responses - 1
            received = self._continuation
        else:
            received = self._describe(text)
            self._responses = self._answer_lines(received.command)
        extra = {"truncated": True} if self._truncated else {}
        received.record(self._session, text, pipelined, **extra)

    def _answer_lines(self, command: ImapCommand | LineCommand | None) -> int:
        """How many following client lines answer the server (SASL, IDLE), not commands."""
        if command is None or command.name not in self._answers:
            return 0
        return self._answers[command.name](command.args)
