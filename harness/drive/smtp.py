"""The SMTP-family client driver (Submission, SMTP, LMTP; the protocol row says which greeting command, whether
RCPT carries XRCPTFORWARD): greeting, EHLO/LHLO, XCLIENT [and a second one], AUTH PLAIN, a mail, QUIT; with
`xclient_after: mail` the XCLIENTs go between MAIL FROM and RCPT TO instead."""

from __future__ import annotations

from collections.abc import Callable

from harness.drive.conversation import Conversation
from harness.drive.xclient import xclient_line
from harness.load.scenario import ClientSession, Mail, texts_of
from harness.protocol.smtp import Reply, advertised_keywords, advertised_xclient, data_reply_count, reply_continues
from harness.protocol.table import ProtocolRow, row
from harness.protocol.xclient import encode_rcpt_forward

MESSAGE = "Subject: mailhops\r\n\r\nmailhops test message\r\n."
"""The message after its From: header, with the terminating dot."""


def drive(c: Conversation, session: ClientSession) -> None:
    """One session as a mail client (or a proxy in front of the server) would run it."""
    protocol = row(session.protocol)
    hello = f"{_hello(protocol)} {session.helo}"
    greeting = read_reply(c)
    c.record("greeting", greeting.status, greeting.last)
    ehlo = command(c, "ehlo", hello).lines
    advertised = advertised_xclient(ehlo)
    if advertised is not None:
        c.note("ehlo_xclient", advertised)
    keywords = advertised_keywords(ehlo)
    if keywords is not None:
        c.note("ehlo_keywords", keywords)
    if session.xclient_after == "ehlo":
        send_xclient(c, session, protocol, hello)
    if session.login is not None:
        command(c, "login", f"AUTH PLAIN {session.login.plain_response()}", shown="AUTH PLAIN <credentials>")
    if session.mail is not None:
        in_transaction = (lambda: send_xclient(c, session, protocol, hello)) if session.xclient_after == "mail" \
            else None
        send_mail(c, session.mail, protocol, in_transaction)
    command(c, "logout", "QUIT")


def send_xclient(c: Conversation, session: ClientSession, protocol: ProtocolRow, hello: str) -> None:
    """The session's XCLIENT (step `xclient`) and its `xclient_again` (step `xclient_again`), each followed by
    the hello again after a 2xx, as the server's fresh greeting asks for."""
    for step, attributes in (("xclient", session.xclient), ("xclient_again", session.xclient_again)):
        if attributes is not None and command(c, step, xclient_line(attributes, protocol.name)).positive:
            command(c, None, hello)


def send_mail(c: Conversation, mail: Mail, protocol: ProtocolRow,
              in_transaction: Callable[[], None] | None = None) -> None:
    """MAIL, RCPT per recipient (the first recorded), DATA and the message if any recipient was accepted;
    each reply to the message is recorded as `data` (LMTP gives one per accepted recipient). `in_transaction`
    runs right after the reply to MAIL, whatever it was (XCLIENT inside the transaction)."""
    mail_reply = command(c, "mail", f"MAIL FROM:<{mail.sender}>")
    if in_transaction is not None:
        in_transaction()
    if not mail_reply.positive:
        return
    accepted = sum(command(c, "rcpt" if index == 0 else None, _rcpt_line(recipient, mail, protocol)).positive
                   for index, recipient in enumerate(mail.to))
    if not accepted or not command(c, None, "DATA").intermediate:
        return
    c.send(f"From: <{mail.sender}>\r\n{MESSAGE}")
    for _ in range(data_reply_count(_hello(protocol), accepted)):
        reply = read_reply(c)
        c.record("data", reply.status, reply.last)


def command(c: Conversation, step: str | None, line: str, shown: str | None = None) -> Reply:
    """Send a command and read its reply; record its code and last line under `step` when given."""
    c.send(line, shown)
    reply = read_reply(c)
    if step:
        c.record(step, reply.status, reply.last)
    return reply


def read_reply(c: Conversation) -> Reply:
    """One whole reply: lines up to the one without a continuation mark."""
    lines = [c.read_line()]
    while reply_continues(lines[-1]):
        lines.append(c.read_line())
    return Reply(tuple(lines))


def _rcpt_line(recipient: str, mail: Mail, protocol: ProtocolRow) -> str:
    line = f"RCPT TO:<{recipient}>"
    if protocol.rcpt_forward and mail.forward:
        line += f" XRCPTFORWARD={encode_rcpt_forward(texts_of(mail.forward))}"
    return line


def _hello(protocol: ProtocolRow) -> str:
    if protocol.hello is None:
        raise ValueError(f"{protocol.name} has no EHLO/LHLO greeting command")
    return protocol.hello
