"""A client's line conversation with a server over a socket, every read and write with a timeout, recorded;
and `run_session`, which hands one scenario session to the client driver its protocol row names.
Errors are recorded in the transcript, never raised: the expectations judge them."""

from __future__ import annotations

import errno
import os
import socket
import time
from dataclasses import dataclass, field

from harness.load.scenario import ClientSession
from harness.observe.events import ClientTranscript
from harness.protocol.table import PROTOCOLS

TIMEOUT_S = float(os.environ.get("MAILHOPS_CLIENT_TIMEOUT", "60"))
CLOSE_WAIT_S = 5.0
"""How long a client waits for the server to close the connection after its logout (servers close at once)."""


@dataclass
class Conversation:
    """The lines exchanged on one connection (``C: ...``, ``S: ...``) and the replies recorded by step."""

    sock: socket.socket
    lines: list[str] = field(default_factory=list)
    buffer: bytes = b""
    replies: dict[str, str] = field(default_factory=dict)
    sent_at: float = 0.0

    def send(self, line: str, shown: str | None = None) -> None:
        """Send `line` and CRLF; the transcript shows `shown` instead when given (a password hidden)."""
        self.lines.append(f"C: {shown or line}")
        self.sent_at = time.monotonic()
        self.sock.sendall(line.encode() + b"\r\n")

    def read_line(self) -> str:
        """The next line without its line ending; ConnectionError when the server closed the connection."""
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\n", 1)
        line = raw.rstrip(b"\r").decode(errors="replace")
        self.lines.append(f"S: {line}")
        return line

    def until_closed(self, timeout: float = CLOSE_WAIT_S) -> bool:
        """After the logout, read (and record) until the server closes the connection, at most `timeout` seconds;
        whether it closed. A server logs a session's end before it closes the socket, and a proxy closes its
        client only once its own upstream closed, so a client that has seen the close knows that every hop in
        front of it has ended the session (the settle rule, harness/observe/settle.py, relies on it)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                self.read_line()
        except ConnectionError:
            return True
        except OSError:  # a timeout: the server keeps the connection open
            return False

    def record(self, step: str, status: str, text: str) -> None:
        """The reply to `step`: its status, its text, and how long after the last command it came."""
        self.replies[step] = status
        self.replies[f"{step}_reply"] = text
        if self.sent_at:
            self.replies[f"{step}_seconds"] = f"{time.monotonic() - self.sent_at:.2f}"

    def note(self, key: str, value: str) -> None:
        """Something else the client saw, under its own key (what EHLO advertised)."""
        self.replies[key] = value


def run_session(index: int, session: ClientSession, address: str, timeout: float = TIMEOUT_S,
                source: str | None = None, *, port: int | None = None) -> ClientTranscript:
    """One session of the scenario against `address`, from `source` when given (the client's IPv6 address on
    the scenario network: left to itself the kernel may pick another of the host's addresses). `port` is the
    protocol's unless given (a test's fake server)."""
    protocol = PROTOCOLS[session.protocol]
    conversation: Conversation | None = None
    error = None
    started = time.monotonic()
    try:
        with _connect(address, protocol.port if port is None else port, timeout, source) as sock:
            sock.settimeout(timeout)
            conversation = Conversation(sock)
            protocol.driver_module().drive(conversation, session)
            conversation.until_closed()
    except OSError as exc:  # ConnectionError and timeouts included
        error = f"{type(exc).__name__}: {exc}"
    lines = tuple(conversation.lines) if conversation else ()
    replies = dict(conversation.replies) if conversation else {}
    replies["session_seconds"] = f"{time.monotonic() - started:.2f}"
    return ClientTranscript(index, session.to, lines, replies, error)


def _connect(address: str, port: int, timeout: float, source: str | None = None) -> socket.socket:
    """Connect; on a new IPv6 bridge the host's own address is "tentative" for a moment (duplicate address
    detection) and binding to it fails with EADDRNOTAVAIL, so that error is retried until the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection((address, port), timeout=timeout,
                                            source_address=(source, 0) if source else None)
        except OSError as exc:
            if exc.errno != errno.EADDRNOTAVAIL or time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
