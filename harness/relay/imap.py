"""IMAP relay sessions: ``capture`` (a recording sink) and ``inject`` (a trusted front)."""

from __future__ import annotations

import contextlib
import socket
from collections import deque

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
from harness.relay.net import RelayError, connect, pipe, recv_some, send_line
from harness.relay.server import Handler, Session

CAPABILITIES = "IMAP4rev1 ID LITERAL+ AUTH=PLAIN"
CAPTURE_GREETING = f"* OK [CAPABILITY {CAPABILITIES}] mailhops capture ready"
CONTINUATION = "+ OK"
INJECT_TAG = "mh1"
UPSTREAM_UNAVAILABLE = "* BYE mailhops relay: upstream unavailable"
_REFUSED = "NO [AUTHENTICATIONFAILED] mailhops capture refuses every login"


class ImapReader:
    """Reads framed IMAP commands or response lines from a socket, with timeouts."""

    def __init__(self, sock: socket.socket, peer_name: str) -> None:
        self.sock = sock
        self.peer_name = peer_name
        self.framer = CommandFramer()
        self._events: deque[FramerEvent] = deque()

    def next_event(self, what: str) -> FramerEvent | None:
        """The next event, or None when the peer closed between commands."""
        while not self._events:
            data = recv_some(self.sock, f"{what} from {self.peer_name}")
            if not data:
                return self._at_end(what)
            self._events.extend(self.framer.feed(data))
        return self._events.popleft()

    def next_line(self, what: str) -> FramedCommand:
        """The next complete line; RelayError if the peer closes first."""
        while True:
            event = self.next_event(what)
            if event is None:
                raise RelayError(f"{self.peer_name} closed the connection before {what}")
            if isinstance(event, FramedCommand):
                return event

    def take_unread(self) -> bytes:
        """Every byte received but not yet handed out, as it arrived."""
        queued = b"".join(e.raw for e in self._events if isinstance(e, FramedCommand))
        self._events.clear()
        return queued + self.framer.take_buffer()

    def _at_end(self, what: str) -> None:
        partial = self.framer.take_buffer()
        if partial:
            raise RelayError(
                f"{self.peer_name} closed the connection in the middle of {what} ({len(partial)} bytes unterminated)"
            )


# --- capture ---------------------------------------------------------------------


def capture(session: Session) -> None:
    """Greet like a backend, record every command, answer each, refuse every login."""
    send_line(session.sock, CAPTURE_GREETING)
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
        replies, keep_open = capture_replies(command)
        for line in replies:
            send_line(session.sock, line)
        if not keep_open:
            return


def _record_received(session: Session, framed: FramedCommand) -> Command | None:
    fields: dict[str, object] = {
        "peer": session.peer,
        "line": framed.text,
        "tag": None,
        "command": None,
        "pipelined": framed.pipelined,
    }
    try:
        command = parse_command(framed.text)
    except ImapParseError as err:
        fields["parse_error"] = str(err)
        session.emit("received", **fields)
        return None
    fields.update(tag=command.tag, command=command.name)
    if command.name == "ID":
        fields.update(_id_fields(command.args))
    session.emit("received", **fields)
    return command


def _id_fields(args: str) -> dict[str, object]:
    try:
        return {"id": [list(field) for field in parse_id_args(args)]}
    except ImapParseError as err:
        return {"id_error": str(err)}


def capture_replies(command: Command | None) -> tuple[list[str], bool]:
    """What the capture sink answers, and whether the connection stays open."""
    if command is None:
        return ["* BAD empty or malformed command line"], True
    tag, name = command.tag, command.name
    if name == "ID":
        return ["* ID NIL", f"{tag} OK ID completed."], True
    if name == "CAPABILITY":
        return [f"* CAPABILITY {CAPABILITIES}", f"{tag} OK CAPABILITY completed."], True
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
    upstream = _connect_upstream(session)
    if upstream is None:
        return
    with upstream:
        try:
            head = _handshake(session, upstream)
        except (RelayError, OSError) as err:
            _refuse_client(session, str(err))
            return
        if head:
            session.sock.sendall(head)
            pipe(session.sock, upstream, session.config.timeout)


def _connect_upstream(session: Session) -> socket.socket | None:
    target = session.config.upstream
    if target is None:
        raise RelayError("inject mode without an upstream")
    try:
        return connect(target.host, target.port, session.config.timeout)
    except OSError as err:
        _refuse_client(session, f"cannot connect to upstream {target.host}:{target.port}: {err}")
        return None


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


def _refuse_client(session: Session, message: str) -> None:
    session.emit("error", message=message)
    with contextlib.suppress(OSError):  # the client may be gone already
        send_line(session.sock, UPSTREAM_UNAVAILABLE)


HANDLERS: dict[str, Handler] = {"capture": capture, "inject": inject}
