"""Drive the scenario's client sessions as real clients would: line by line, every read with a timeout.
Errors are recorded in the transcript, never raised: the expectations judge them."""

from __future__ import annotations

import base64
import errno
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.load.scenario import ClientSession, XclientAttributes, text_of, texts_of
from harness.observe.events import ClientTranscript
from harness.plan.topology import PROTOCOL_PORTS
from harness.protocol.imap import format_id, quote_string
from harness.protocol.xclient import encode_forward, encode_rcpt_forward, flavour_for, format_xclient

TIMEOUT_S = float(os.environ.get("MAILHOPS_CLIENT_TIMEOUT", "60"))


@dataclass
class _Conversation:
    sock: socket.socket
    lines: list[str] = field(default_factory=list)
    buffer: bytes = b""
    replies: dict[str, str] = field(default_factory=dict)
    sent_at: float = 0.0

    def send(self, line: str, shown: str | None = None) -> None:
        self.lines.append(f"C: {shown or line}")
        self.sent_at = time.monotonic()
        self.sock.sendall(line.encode() + b"\r\n")

    def read_line(self) -> str:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\n", 1)
        line = raw.rstrip(b"\r").decode(errors="replace")
        self.lines.append(f"S: {line}")
        return line

    def record(self, step: str, status: str, text: str) -> None:
        """The reply to `step`: its status, its text, and how long after the last command it came."""
        self.replies[step] = status
        self.replies[f"{step}_reply"] = text
        if self.sent_at:
            self.replies[f"{step}_seconds"] = f"{time.monotonic() - self.sent_at:.2f}"

    # IMAP
    def imap(self, step: str, tag: str, line: str, shown: str | None = None) -> str:
        self.send(line, shown)
        bye = None
        while True:
            try:
                reply = self.read_line()
            except ConnectionError:
                if bye is None:
                    raise
                reply = f"{tag} BYE {bye}"
            if reply.startswith(f"{tag} "):
                text = reply[len(tag) + 1:]
                self.record(step, text.split(" ", 1)[0], text)
                return text
            if reply.startswith("* BYE"):
                bye = reply[len("* BYE "):]

    # POP3
    def pop3(self, step: str, line: str, shown: str | None = None) -> str:
        self.send(line, shown)
        reply = self.read_line()
        self.record(step, reply.split(" ", 1)[0], reply)
        return reply

    # SMTP and LMTP
    def smtp_reply(self) -> list[str]:
        lines = [self.read_line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.read_line())
        return lines

    def smtp(self, step: str | None, line: str, shown: str | None = None) -> list[str]:
        self.send(line, shown)
        reply = self.smtp_reply()
        if step:
            self.record(step, reply[-1][:3], reply[-1])
        return reply


def run_session(index: int, session: ClientSession, address: str, timeout: float = TIMEOUT_S,
                source: str | None = None) -> ClientTranscript:
    """One session of the scenario against `address`, from `source` when given (the client's IPv6 address on
    the scenario network: left to itself the kernel may pick another of the host's addresses)."""
    conversation: _Conversation | None = None
    error = None
    started = time.monotonic()
    try:
        with _connect(address, PROTOCOL_PORTS[session.protocol], timeout, source) as sock:
            sock.settimeout(timeout)
            conversation = _Conversation(sock)
            DRIVERS[session.protocol](conversation, session)
    except (OSError, ConnectionError) as exc:
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


def _imap(c: _Conversation, session: ClientSession) -> None:
    greeting = c.read_line()
    c.record("greeting", greeting.split(" ", 2)[1] if " " in greeting else greeting, greeting)
    if session.id is not None:
        c.imap("id", "c1", format_id(texts_of(session.id), tag="c1"))
    if session.login is not None:
        user, password = session.login.user, session.login.password
        c.imap("login", "c2", f"c2 LOGIN {quote_string(user)} {quote_string(password)}",
               shown=f"c2 LOGIN {quote_string(user)} <password>")
    c.imap("logout", "c3", "c3 LOGOUT")


def _pop3(c: _Conversation, session: ClientSession) -> None:
    greeting = c.read_line()
    c.record("greeting", greeting.split(" ", 1)[0], greeting)
    if session.xclient is not None:
        c.pop3("xclient", xclient_line(session.xclient, "pop3"))
    if session.login is not None:
        c.pop3("user", f"USER {session.login.user}")
        c.pop3("login", f"PASS {session.login.password}", shown="PASS <password>")
    c.pop3("logout", "QUIT")


def _smtp(c: _Conversation, session: ClientSession) -> None:
    hello = "LHLO" if session.protocol == "lmtp" else "EHLO"
    greeting = c.read_line()
    c.record("greeting", greeting[:3], greeting)
    ehlo = c.smtp("ehlo", f"{hello} {session.helo}")
    advertised = next((line[4:].split(None, 1) for line in ehlo if line[4:].upper().startswith("XCLIENT")), None)
    if advertised is not None:
        c.replies["ehlo_xclient"] = advertised[1] if len(advertised) > 1 else ""
    if session.xclient is not None:
        reply = c.smtp("xclient", xclient_line(session.xclient, session.protocol))
        if reply[-1].startswith("2"):
            c.smtp(None, f"{hello} {session.helo}")
    if session.login is not None:
        secret = base64.b64encode(f"\0{session.login.user}\0{session.login.password}".encode()).decode()
        c.smtp("login", f"AUTH PLAIN {secret}", shown="AUTH PLAIN <credentials>")
    if session.mail is not None:
        _send_mail(c, session)
    c.smtp("logout", "QUIT")


def _send_mail(c: _Conversation, session: ClientSession) -> None:
    assert session.mail is not None
    if not c.smtp("mail", f"MAIL FROM:<{session.mail.sender}>")[-1].startswith("2"):
        return
    accepted = 0
    for index, recipient in enumerate(session.mail.to):
        line = f"RCPT TO:<{recipient}>"
        if session.mail.forward:
            line += f" XRCPTFORWARD={encode_rcpt_forward(texts_of(session.mail.forward))}"
        reply = c.smtp("rcpt" if index == 0 else None, line)
        accepted += reply[-1].startswith("2")
    if not accepted:
        return
    if not c.smtp(None, "DATA")[-1].startswith("3"):
        return
    c.send(f"From: <{session.mail.sender}>\r\nSubject: mailhops\r\n\r\nmailhops test message\r\n.")
    for _ in range(accepted if session.protocol == "lmtp" else 1):
        reply = c.smtp_reply()
        c.record("data", reply[-1][:3], reply[-1])


def xclient_line(attributes: XclientAttributes, protocol: str) -> str:
    """The XCLIENT command for these attributes; a FORWARD mapping is encoded as the protocol wants it."""
    return format_xclient(xclient_attributes(attributes), flavour_for(_relay_protocol(protocol)))


def xclient_attributes(attributes: XclientAttributes) -> list[tuple[str, str]]:
    pairs = []
    for name, value in attributes.items():
        text = encode_forward(texts_of(dict(value))) if isinstance(value, Mapping) else text_of(value)
        pairs.append((name.upper(), text))
    return pairs


def _relay_protocol(protocol: str) -> str:
    return "submission" if protocol == "smtp" else protocol


DRIVERS = {"imap": _imap, "pop3": _pop3, "submission": _smtp, "smtp": _smtp, "lmtp": _smtp}
