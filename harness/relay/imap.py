"""IMAP relay sessions: ``capture`` (a recording sink) and ``inject`` (a trusted front)."""

from __future__ import annotations

import socket

from harness.protocol.imap import (
    Command,
    CommandFramer,
    FramedCommand,
    FramerEvent,
    ImapFramingError,
    ImapParseError,
    NeedContinuation,
    format_id,
    parse_command,
    parse_id_args,
)
from harness.relay.config import IMAP_CAPTURE_CAPABILITIES
from harness.relay.mutate import IdRewriter
from harness.relay.net import RelayError, send_line
from harness.relay.reader import FramedReader
from harness.relay.received import Received
from harness.relay.scan import ImapScanner
from harness.relay.server import Handler, Session
from harness.relay.upstream import run_inject
from harness.relay.wires import Wire, sasl_responses

CAPABILITIES = " ".join(IMAP_CAPTURE_CAPABILITIES)
PLAIN_GREETING = "* OK mailhops capture ready"
CONTINUATION = "+ OK"
INJECT_TAG = "mh1"
UPSTREAM_UNAVAILABLE = "* BYE mailhops relay: upstream unavailable"
_REFUSED = "NO [AUTHENTICATIONFAILED] mailhops capture refuses every login"


class ImapReader(FramedReader[FramerEvent]):
    """IMAP commands or response lines, with their literals."""

    def __init__(self, sock: socket.socket, peer_name: str) -> None:
        super().__init__(sock, peer_name, CommandFramer())

    def next_line(self, what: str) -> FramedCommand:
        """The next complete line; RelayError if the peer closes first."""
        while True:
            event = self.require_event(what)
            if isinstance(event, FramedCommand):
                return event

    def _raw(self, event: FramerEvent) -> bytes:
        return event.raw if isinstance(event, FramedCommand) else b""


# --- capture ---------------------------------------------------------------------


def capture_greeting(capabilities: tuple[str, ...], in_greeting: bool) -> str:
    """Dovecot's proxy sends ID only to a next hop that lists ID; without the list in the greeting it asks."""
    return f"* OK [CAPABILITY {' '.join(capabilities)}] mailhops capture ready" if in_greeting else PLAIN_GREETING


def capture(session: Session) -> None:
    """Greet like a backend, record every command, answer each, refuse every login."""
    capabilities = " ".join(session.config.capabilities)
    send_line(session.sock, capture_greeting(session.config.capabilities, session.config.greeting_capability))
    reader = ImapReader(session.sock, "the client")
    while True:
        try:
            event = reader.next_event("a command")
        except ImapFramingError as err:
            send_line(session.sock, f"* BYE mailhops capture: {err}")
            raise RelayError(str(err)) from None
        if event is None:
            return
        if isinstance(event, NeedContinuation):
            send_line(session.sock, CONTINUATION)
            continue
        command = _record_received(session, event)
        replies, keep_open = capture_replies(command, capabilities)
        for line in replies:
            send_line(session.sock, line)
        if not keep_open:
            return


def _record_received(session: Session, framed: FramedCommand) -> Command | None:
    received = describe(framed.text)
    received.record(session, framed.text, framed.pipelined)
    return received.command


def describe(text: str) -> Received[Command]:
    """What a ``received`` event says about an IMAP command line."""
    try:
        command = parse_command(text)
    except ImapParseError as err:
        return Received(None, {"tag": None, "command": None}, {"parse_error": str(err)})
    detail = _id_fields(command.args) if command.name == "ID" else {}
    return Received(command, {"tag": command.tag, "command": command.name}, detail)


def _id_fields(args: str) -> dict[str, object]:
    try:
        return {"id": [list(field) for field in parse_id_args(args)]}
    except ImapParseError as err:
        return {"id_error": str(err)}


def capture_replies(command: Command | None, capabilities: str = CAPABILITIES) -> tuple[list[str], bool]:
    """What the capture sink answers (``capabilities``: its CAPABILITY list), and whether the connection stays
    open."""
    if command is None:
        return ["* BAD empty or malformed command line"], True
    tag, name = command.tag, command.name
    if name == "ID":
        return ["* ID NIL", f"{tag} OK ID completed."], True
    if name == "CAPABILITY":
        return [f"* CAPABILITY {capabilities}", f"{tag} OK CAPABILITY completed."], True
    if name in ("LOGIN", "AUTHENTICATE"):
        return [f"{tag} {_REFUSED}"], True
    if name == "NOOP":
        return [f"{tag} OK NOOP completed."], True
    if name == "LOGOUT":
        return [
            "* BYE mailhops capture logging out",
            f"{tag} OK LOGOUT completed.",
        ], False
    return [f"{tag} BAD unknown command"], True


# --- inject -----------------------------------------------------------------------


def inject(session: Session) -> None:
    """Send our own ID upstream first, then hand the client the upstream session."""
    run_inject(session, _handshake, UPSTREAM_UNAVAILABLE, (RelayError, OSError))


def _handshake(session: Session, upstream: socket.socket) -> bytes:
    """Greeting, our ID and its reply; return the bytes owed to the client.

    An empty result means the upstream refused us and the client has been told.
    """
    reader = ImapReader(upstream, "upstream")
    greeting = reader.next_line("the greeting")
    session.emit("upstream_greeting", line=greeting.text)
    if greeting.text.upper().startswith("* BYE"):
        session.emit("error", message="upstream greeted with BYE")
        session.sock.sendall(greeting.raw)
        return b""
    line = format_id(session.config.id, tag=INJECT_TAG)
    send_line(upstream, line)
    reply = _read_tagged_reply(reader, INJECT_TAG)
    session.emit("injected", line=line, reply=reply)
    # Anything upstream sent after its reply belongs to the client, in order.
    return greeting.raw + reader.take_unread()


def _read_tagged_reply(reader: ImapReader, tag: str) -> list[str]:
    lines: list[str] = []
    while True:
        framed = reader.next_line(f"the reply to {tag} ID")
        lines.append(framed.text)
        if framed.text.split(" ", 1)[0] == tag:
            return lines


HANDLERS: dict[str, Handler] = {"capture": capture, "inject": inject}
WIRE = Wire(
    describe=describe,
    refusal=UPSTREAM_UNAVAILABLE,
    scanner=ImapScanner,
    answers={"AUTHENTICATE": sasl_responses, "IDLE": lambda _args: 1},
    rewriter=IdRewriter,
)
