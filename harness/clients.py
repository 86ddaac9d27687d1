"""Drive the scenario's client sessions as a real IMAP client would, line by line, every read with a timeout."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from harness.observations import ClientTranscript
from harness.protocol.imap import format_id
from harness.scenario import ClientSession

PORTS = {"imap": 143}


@dataclass
class _Conversation:
    sock: socket.socket
    lines: list[str] = field(default_factory=list)
    buffer: bytes = b""

    def send(self, line: str) -> None:
        self.lines.append(f"C: {line}")
        self.sock.sendall(line.encode() + b"\r\n")

    def read_line(self) -> str:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\r\n", 1)
        line = raw.decode(errors="replace")
        self.lines.append(f"S: {line}")
        return line

    def command(self, tag: str, line: str) -> str:
        """Send a tagged command; return the tagged reply without its tag (`OK ...`)."""
        self.send(line)
        bye = None
        while True:
            try:
                reply = self.read_line()
            except ConnectionError:
                if bye is None:
                    raise
                return f"BYE {bye}"
            if reply.startswith(f"{tag} "):
                return reply[len(tag) + 1:]
            if reply.startswith("* BYE"):
                bye = reply[len("* BYE "):]


def run_session(index: int, session: ClientSession, address: str, timeout: float = 20.0) -> ClientTranscript:
    """One IMAP session: greeting, optional ID, optional LOGIN, LOGOUT. Errors are recorded, not raised."""
    replies: dict[str, str] = {}
    conversation: _Conversation | None = None
    error = None
    try:
        with socket.create_connection((address, PORTS[session.protocol]), timeout=timeout) as sock:
            sock.settimeout(timeout)
            conversation = _Conversation(sock)
            replies["greeting"] = conversation.read_line()
            if session.id is not None:
                fields = [(key, str(value)) for key, value in session.id.items()]
                _record(replies, "id", conversation.command("c1", format_id(fields, tag="c1")))
            if session.login is not None:
                login = f"c2 LOGIN {_quoted(session.login.user)} {_quoted(session.login.password)}"
                _record(replies, "login", conversation.command("c2", login))
            _record(replies, "logout", conversation.command("c3", "c3 LOGOUT"))
    except (OSError, ConnectionError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    lines = tuple(conversation.lines) if conversation else ()
    return ClientTranscript(index, session.to, lines, replies, error)


def _record(replies: dict[str, str], step: str, reply: str) -> None:
    replies[step] = reply.split(" ", 1)[0]
    replies[f"{step}_reply"] = reply


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
