"""POP3 relay sessions: ``capture`` (a recording sink) and ``inject`` (a trusted front)."""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable

from harness.protocol.pop3 import (
    ERR,
    OK,
    format_multiline,
    greeting_offers_xclient,
    is_ok,
    xoip_as_xclient,
)
from harness.protocol.smtp import (
    Command,
    LineTooLongError,
    SmtpParseError,
    decode_sasl_plain,
)
from harness.protocol.xclient import POP3, format_xclient
from harness.relay.line_capture import LineCapture
from harness.relay.mutate import LineRewriter
from harness.relay.net import RelayError, send_line
from harness.relay.reader import LineReader
from harness.relay.received import Received
from harness.relay.scan import LineScanner
from harness.relay.server import Handler, Session
from harness.relay.smtp import describe_line, xclient_event_fields
from harness.relay.upstream import run_inject
from harness.relay.wires import LINE_ANSWERS, Wire

REFUSED = f"{ERR} [AUTH] mailhops capture refuses every login"
UPSTREAM_UNAVAILABLE = f"{ERR} [SYS/TEMP] mailhops relay: upstream unavailable"
CAPABILITIES = ("USER", "SASL PLAIN", "PIPELINING", "TOP", "UIDL")


def capture_greeting(offer_xclient: bool) -> str:
    """Dovecot's proxy sends XCLIENT only after ``+OK [XCLIENT]``."""
    return f"{OK} [XCLIENT] mailhops capture ready" if offer_xclient else f"{OK} mailhops capture ready"


def describe(text: str) -> Received[Command]:
    """What a ``received`` event says about a POP3 command line."""
    return describe_line(text, _detail)


def _detail(text: str, command: Command) -> dict[str, object]:
    if command.name == "XCLIENT":
        return xclient_event_fields(text, POP3)
    if command.name == "XOIP":
        return xclient_event_fields(xoip_as_xclient(command.args), POP3)
    return {}


# --- capture -------------------------------------------------------------------------------


def capture(session: Session) -> None:
    """Greet like a backend, record every command, answer each; refuse or accept logins."""
    _Capture(session).run()


class _Capture(LineCapture):
    """One capture session; its only state is the USER given."""

    def __init__(self, session: Session) -> None:
        super().__init__(session, describe)
        self.user: str | None = None
        self.handlers: dict[str, Callable[[Command, dict[str, object]], list[str]]] = {
            "CAPA": self._capa,
            "XCLIENT": self._xclient,
            "XOIP": self._xclient,
            "USER": self._user,
            "PASS": self._pass,
            "AUTH": self._auth,
            "STAT": lambda _c, _f: [f"{OK} 0 0"],
            "LIST": lambda _c, _f: format_multiline(f"{OK} 0 messages", []),
            "UIDL": lambda _c, _f: format_multiline(OK, []),
            "NOOP": lambda _c, _f: [OK],
            "RSET": lambda _c, _f: [OK],
        }

    def run(self) -> None:
        self.send(capture_greeting(bool(self.config.advertise)))
        while True:
            line = self._next("a command")
            if line is None:
                return
            command, fields = self._record(line)
            if command is None:
                self.send(f"{ERR} Unknown command.")
            elif command.name == "QUIT":
                self.send(f"{OK} Logging out.")
                return
            else:
                handler = self.handlers.get(command.name)
                for reply in [f"{ERR} Unknown command."] if handler is None else handler(command, fields):
                    self.send(reply)

    def send(self, line: str) -> None:
        send_line(self.session.sock, line)

    def _refuse_too_long(self, _err: LineTooLongError) -> None:
        self.send(f"{ERR} Input buffer full, aborting")

    # --- commands; each returns its reply lines ---

    def _capa(self, _command: Command, _fields: dict[str, object]) -> list[str]:
        return format_multiline(f"{OK} Capability list follows", CAPABILITIES)

    def _xclient(self, _command: Command, fields: dict[str, object]) -> list[str]:
        # The replies are Dovecot's (pop3-login/client.c), untrusted one included.
        if not self.config.advertise:
            return [f"{OK} You are not from trusted IP - ignoring"]
        if "xclient_error" in fields or "forward_error" in fields:
            return [f"{ERR} Invalid parameters"]
        return [f"{OK} Updated"]

    def _user(self, command: Command, _fields: dict[str, object]) -> list[str]:
        self.user = command.args
        return [OK]

    def _pass(self, _command: Command, _fields: dict[str, object]) -> list[str]:
        if self.user is None:
            return [f"{ERR} No username given."]
        user, self.user = self.user, None
        return self._login("USER", user, "")

    def _auth(self, command: Command, _fields: dict[str, object]) -> list[str]:
        mechanism, _, initial = command.args.partition(" ")
        if not mechanism:
            return format_multiline(OK, ["PLAIN"])
        if mechanism.upper() != "PLAIN":
            return [f"{ERR} Unsupported authentication mechanism."]
        if not initial:
            self.send("+ ")
            initial = self._auth_response()
            if initial == "*":
                return [f"{ERR} Authentication aborted."]
        try:
            authzid, user, _password = decode_sasl_plain(initial)
        except SmtpParseError as err:
            return [f"{ERR} {err}"]
        return self._login("PLAIN", user, authzid)

    def _login(self, mechanism: str, user: str, authzid: str) -> list[str]:
        accepted = self.config.accept == "login"
        self.session.emit("auth", mechanism=mechanism, user=user, authzid=authzid, accepted=accepted)
        return [f"{OK} Logged in."] if accepted else [REFUSED]


# --- inject --------------------------------------------------------------------------------


def inject(session: Session) -> None:
    """Send our own XCLIENT upstream first, then hand the client the upstream session."""
    run_inject(session, _handshake, UPSTREAM_UNAVAILABLE, (RelayError, OSError, LineTooLongError))


def _handshake(session: Session, upstream: socket.socket) -> bytes:
    """Greeting, our XCLIENT and its reply; return the bytes owed to the client.

    An empty result means the upstream greeted with an error, which the client has been given.
    """
    reader = LineReader(upstream, "upstream")
    greeting = reader.require_event("the greeting")
    session.emit("upstream_greeting", line=greeting.text)
    if not is_ok(greeting.text):
        session.emit("error", message=f"upstream greeted with {greeting.text!r}")
        session.sock.sendall(greeting.raw)
        return b""
    if not greeting_offers_xclient(greeting.text):
        session.emit("error", message="upstream greeting does not offer [XCLIENT]; sending it anyway")
    line = format_xclient(session.config.xclient, POP3)
    send_line(upstream, line)
    reply = reader.require_event("the reply to XCLIENT")
    session.emit("injected", line=line, reply=[reply.text])
    if not is_ok(reply.text):
        session.emit("error", message=f"upstream refused XCLIENT: {reply.text}")
    # Anything upstream sent after its reply belongs to the client, in order.
    return greeting.raw + reader.take_unread()


HANDLERS: dict[str, Handler] = {"capture": capture, "inject": inject}
WIRE = Wire(
    describe=describe,
    refusal=UPSTREAM_UNAVAILABLE,
    scanner=functools.partial(LineScanner, "STLS", content_commands=False),
    answers=LINE_ANSWERS,
    rewriter=LineRewriter,
)
