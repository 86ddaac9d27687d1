"""``mutate``: rewrite the forwarding command on its way upstream, as a faulty hop would.

IMAP: only the first ID command (Dovecot applies only the first). POP3, SMTP, LMTP:
every XCLIENT line, and with ``drop_forward`` every LMTP RCPT line. Every other byte
passes unchanged and in order. Each candidate command gives a ``mutated`` event.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Protocol

from harness.protocol.imap import (
    MAX_COMMAND_BYTES,
    IdField,
    ImapParseError,
    is_nonsync_literal,
    literal_length,
    rewrite_id_command,
    rewrite_id_fields,
)
from harness.protocol.imap import parse_command as parse_imap_command
from harness.protocol.table import ProtocolRow
from harness.protocol.wire import decode, encode, strip_eol
from harness.protocol.xclient import Attribute, rewrite_rcpt_forward, rewrite_xclient
from harness.relay.config import Mutation
from harness.relay.net import RelayError
from harness.relay.scan import LINE, Segment
from harness.relay.server import Session


class Report(Protocol):
    """Records one ``mutated`` event."""

    def __call__(self, original: str, line: str, error: str | None = None) -> None: ...


class Rewriter(Protocol):
    """Takes the scanned pieces of the client's stream in order; returns the bytes to send on."""

    def take(self, segment: Segment) -> bytes: ...

    def flush(self) -> bytes: ...


RewriterFactory = Callable[[ProtocolRow, Mutation, Report], Rewriter]
"""Makes the rewriter of one wire family (``IdRewriter``, ``LineRewriter``) for a protocol and a mutation."""


def rewriter_for(session: Session, make: RewriterFactory) -> Rewriter:
    """The rewriter ``make`` gives for this session's protocol and mutation."""
    mutation = session.config.mutate
    if mutation is None:
        raise RelayError("mutate mode without a mutation")
    return make(session.config.row, mutation, functools.partial(_report, session))


def _report(session: Session, original: str, line: str, error: str | None = None) -> None:
    fields: dict[str, object] = {"original": original, "line": line}
    if line == original:
        fields["unchanged"] = True
    if error is not None:
        fields["error"] = error
    session.emit("mutated", **fields)


def _with_line_ending(line: str, raw: bytes) -> bytes:
    """``line`` with the line ending ``raw`` had (CRLF, LF or none)."""
    return encode(line) + raw[len(strip_eol(raw)) :]


class LineRewriter:
    """POP3, SMTP, LMTP: one command a line, so each line is rewritten on its own."""

    def __init__(self, row: ProtocolRow, mutation: Mutation, report: Report) -> None:
        if row.xclient_flavour is None:
            raise RelayError(f"protocol {row.name} has no XCLIENT to rewrite")
        self._report = report
        self._rewrites: dict[str, Callable[[str], str]] = {
            "XCLIENT": functools.partial(
                rewrite_xclient,
                flavour=row.xclient_flavour,
                drop=mutation.drop,
                drop_forward=mutation.drop_forward,
                ttl_delta=mutation.ttl_delta,
                set_attributes=_attributes(mutation.set_fields(row.name)),
            )
        }
        if row.rcpt_forward and mutation.drop_forward:
            self._rewrites["RCPT"] = functools.partial(rewrite_rcpt_forward, drop_forward=mutation.drop_forward)

    def take(self, segment: Segment) -> bytes:
        if segment.kind != LINE:
            return segment.raw
        text = decode(strip_eol(segment.raw))
        rewrite = self._rewrites.get(text.split(" ", 1)[0].upper())
        if rewrite is None:
            return segment.raw
        try:
            line = rewrite(text)
        except ValueError as err:
            self._report(text, text, str(err))
            return segment.raw
        self._report(text, line)
        return segment.raw if line == text else _with_line_ending(line, segment.raw)

    def flush(self) -> bytes:
        return b""


def _attributes(fields: tuple[IdField, ...]) -> tuple[Attribute, ...]:
    # Config validation allows NIL (None) for IMAP only.
    return tuple((name, value) for name, value in fields if value is not None)


class IdRewriter:
    """IMAP: the first ID command is held back whole, rewritten, then sent on.

    A synchronizing literal in it would wait for the server's ``+``, so such an ID
    (and one too long to hold) passes unchanged, with an error in its ``mutated`` event.
    """

    def __init__(self, row: ProtocolRow, mutation: Mutation, report: Report) -> None:
        self._change = functools.partial(
            rewrite_id_fields,
            drop=mutation.drop,
            drop_forward=mutation.drop_forward,
            ttl_delta=mutation.ttl_delta,
            set_fields=mutation.set_fields(row.name),
        )
        self._report = report
        self._seen_id = False
        self._held: bytearray | None = None

    def take(self, segment: Segment) -> bytes:
        if self._held is None:
            if self._seen_id or segment.kind != LINE or not segment.first or not _is_id(segment.raw):
                return segment.raw
            self._seen_id = True
            self._held = bytearray()
        self._held += segment.raw
        if segment.last:
            return self._rewrite(self._release())
        if segment.kind == LINE and literal_length(segment.raw) is not None and not is_nonsync_literal(segment.raw):
            return self._give_up("a synchronizing literal makes the client wait for the server")
        if len(self._held) > MAX_COMMAND_BYTES:
            return self._give_up(f"the ID command exceeds {MAX_COMMAND_BYTES} bytes")
        return b""

    def flush(self) -> bytes:
        return b"" if self._held is None else self._release()

    def _release(self) -> bytes:
        held = bytes(self._held or b"")
        self._held = None
        return held

    def _give_up(self, reason: str) -> bytes:
        held = self._release()
        text = decode(strip_eol(held))
        self._report(text, text, reason)
        return held

    def _rewrite(self, raw: bytes) -> bytes:
        text = decode(strip_eol(raw))
        try:
            line = rewrite_id_command(text, self._change)
        except ValueError as err:
            self._report(text, text, str(err))
            return raw
        self._report(text, line)
        return raw if line == text else _with_line_ending(line, raw)


def _is_id(raw: bytes) -> bool:
    try:
        return parse_imap_command(decode(strip_eol(raw))).name == "ID"
    except ImapParseError:
        return False
