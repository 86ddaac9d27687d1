"""The IMAP client driver: greeting, ID, LOGIN (or AUTHENTICATE PLAIN with SASL-IR), LOGOUT, each tagged reply
recorded by step."""

from __future__ import annotations

from harness.drive.conversation import Conversation
from harness.load.scenario import ClientSession, texts_of
from harness.protocol.imap import Response, format_id, greeting_status, parse_response_line, quote_string

ID_TAG, LOGIN_TAG, LOGOUT_TAG = "c1", "c2", "c3"


def drive(c: Conversation, session: ClientSession) -> None:
    """One IMAP session as a mail client would run it."""
    greeting = c.read_line()
    c.record("greeting", greeting_status(greeting), greeting)
    if session.id is not None:
        command(c, "id", ID_TAG, format_id(texts_of(session.id), tag=ID_TAG))
    if session.login is not None and session.login.sasl:
        command(c, "login", LOGIN_TAG, f"{LOGIN_TAG} AUTHENTICATE PLAIN {session.login.plain_response()}",
                shown=f"{LOGIN_TAG} AUTHENTICATE PLAIN <credentials>")
    elif session.login is not None:
        user, password = quote_string(session.login.user), quote_string(session.login.password)
        command(c, "login", LOGIN_TAG, f"{LOGIN_TAG} LOGIN {user} {password}",
                shown=f"{LOGIN_TAG} LOGIN {user} <password>")
    command(c, "logout", LOGOUT_TAG, f"{LOGOUT_TAG} LOGOUT")


def command(c: Conversation, step: str, tag: str, line: str, shown: str | None = None) -> Response:
    """Send a tagged command; record its tagged reply's status and the reply without its tag."""
    c.send(line, shown)
    response = tagged_reply(c, tag)
    c.record(step, response.status, response.after_tag)
    return response


def tagged_reply(c: Conversation, tag: str) -> Response:
    """Read up to the reply tagged `tag`. A ``* BYE`` and then a closed connection stand for
    ``<tag> BYE <text>``: what the server said before it hung up."""
    bye: str | None = None
    while True:
        try:
            response = parse_response_line(c.read_line())
        except ConnectionError:
            if bye is None:
                raise
            return parse_response_line(f"{tag} BYE {bye}")
        if response.completes(tag):
            return response
        if response.is_bye:
            bye = response.text
