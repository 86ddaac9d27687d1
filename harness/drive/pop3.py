"""The POP3 client driver: greeting, XCLIENT [and a second one], USER/PASS, QUIT, each status line recorded by
step."""

from __future__ import annotations

from harness.drive.conversation import Conversation
from harness.drive.xclient import xclient_line
from harness.load.scenario import ClientSession
from harness.protocol.pop3 import StatusLine, parse_status_line


def drive(c: Conversation, session: ClientSession) -> None:
    """One POP3 session as a mail client (or a proxy in front of the server) would run it."""
    greeting = c.read_line()
    c.record("greeting", parse_status_line(greeting).status, greeting)
    for step, attributes in (("xclient", session.xclient), ("xclient_again", session.xclient_again)):
        if attributes is not None:
            command(c, step, xclient_line(attributes, session.protocol))
    if session.login is not None and session.login.sasl:
        command(c, "login", f"AUTH PLAIN {session.login.plain_response()}", shown="AUTH PLAIN <credentials>")
    elif session.login is not None:
        command(c, "user", f"USER {session.login.user}")
        command(c, "login", f"PASS {session.login.password}", shown="PASS <password>")
    command(c, "logout", "QUIT")


def command(c: Conversation, step: str, line: str, shown: str | None = None) -> StatusLine:
    """Send a command; record the status word and the whole status line."""
    c.send(line, shown)
    reply = c.read_line()
    status = parse_status_line(reply)
    c.record(step, status.status, reply)
    return status
