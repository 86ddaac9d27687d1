"""SMTP, submission and LMTP relay sessions: ``capture`` (a recording sink) and ``inject`` (a trusted front).

These protocols share everything but a few words, all read from the protocol's table row: the hello
verb is EHLO or LHLO (and with LHLO the greeting says LMTP and DATA is answered once per recipient),
``rcpt_forward`` protocols offer XRCPTFORWARD, those with logins offer AUTH.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable

from harness.protocol.smtp import (
    Command,
    Line,
    LineTooLongError,
    RcptParamAdder,
    SmtpParseError,
    decode_sasl_base64,
    decode_sasl_plain,
    format_reply,
    is_data_end,
    parse_command,
    parse_ehlo_reply,
    parse_path_args,
    parse_reply_line,
    unstuff,
)
from harness.protocol.wire import decode, encode
from harness.protocol.xclient import (
    POP3,
    SMTP,
    Flavour,
    ForwardError,
    XclientCommand,
    XclientError,
    decode_forward,
    decode_rcpt_forward,
    encode_rcpt_forward,
    format_xclient,
    is_unavailable,
    parse_address,
    parse_xclient,
    split_xclient,
)
from harness.relay.line_capture import LineCapture
from harness.relay.mutate import LineRewriter
from harness.relay.net import RelayError, StreamFilter, send_line
from harness.relay.reader import LineReader
from harness.relay.received import Received
from harness.relay.scan import LineScanner
from harness.relay.server import Handler, Session
from harness.relay.upstream import run_inject
from harness.relay.wires import LINE_ANSWERS, Wire

HOSTNAME = "capture.test"
RELAY_HELO = "relay.mailhops.test"
RCPT_FORWARD_PARAM = "XRCPTFORWARD"
LMTP_HELLO = "LHLO"
"""The hello of LMTP (RFC 2033), whose greeting says so and whose DATA is answered per recipient."""
MAX_RECORDED_CONTENT = 64 * 1024
REFUSED = "mailhops capture refuses every login"
UPSTREAM_UNAVAILABLE = "421 4.3.0 mailhops relay: upstream unavailable"
_AUTH_PROMPTS = ("VXNlcm5hbWU6", "UGFzc3dvcmQ6")  # base64 "Username:", "Password:"


def read_reply(reader: LineReader, what: str) -> list[Line]:
    """A whole (possibly multi-line) SMTP reply; RelayError if it is not one."""
    lines: list[Line] = []
    while True:
        line = reader.require_event(what)
        lines.append(line)
        try:
            if parse_reply_line(line.text).last:
                return lines
        except SmtpParseError as err:
            raise RelayError(f"{what}: {err}") from None


def xclient_event_fields(line: str, flavour: Flavour) -> dict[str, object]:
    """What a ``received`` event records about an XCLIENT line, decoded per flavour."""
    try:
        raw = split_xclient(line)
    except XclientError as err:
        return {"xclient_error": str(err)}
    fields: dict[str, object] = {"xclient_raw": [list(pair) for pair in raw]}
    try:
        command = parse_xclient(line, flavour)
    except XclientError as err:
        return {**fields, "xclient_error": str(err)}
    fields["xclient"] = [list(pair) for pair in command.attributes]
    unknown = command.unknown(flavour)
    if unknown:
        fields["xclient_unknown"] = list(unknown)
    forward = command.get("FORWARD")
    if forward is not None:
        fields.update(_forward_fields(decode_forward, forward))
    invalid = _invalid_value(command, flavour)
    if invalid is not None:
        fields["xclient_error"] = invalid
    return fields


def _invalid_value(command: XclientCommand, flavour: Flavour) -> str | None:
    """Why Dovecot would refuse a value of this XCLIENT, or None.

    POP3 takes addresses only bare (``net_addr2ip``) and knows no ``[UNAVAILABLE]``;
    the SMTP servers also take ``IPV6:``, and ``[UNAVAILABLE]`` except for TTL and TIMEOUT.
    """
    strict = ("TTL", "TIMEOUT", *(("ADDR", "PORT", "DESTADDR", "DESTPORT") if flavour == POP3 else ()))
    for name in strict:
        value = command.get(name)
        if value is not None and is_unavailable(value):
            return f"{name} cannot be {value}"
    try:
        for name in ("ADDR", "DESTADDR"):
            value = command.get(name)
            if value is not None:
                parse_address(value, ipv6_prefix="forbidden" if flavour == POP3 else "optional")
        for name, highest in (("PORT", 65535), ("DESTPORT", 65535), ("TTL", None), ("TIMEOUT", None)):
            command.number(name, highest)
    except XclientError as err:
        return str(err)
    return None


def _forward_fields(decoder: Callable[[str], list[tuple[str, str]]], value: str) -> dict[str, object]:
    try:
        return {"forward": [list(field) for field in decoder(value)]}
    except ForwardError as err:
        return {"forward_error": str(err)}


def _rcpt_fields(args: str) -> dict[str, object]:
    try:
        value = parse_path_args(args, "TO:").param(RCPT_FORWARD_PARAM)
    except SmtpParseError as err:
        return {"parse_error": str(err)}
    return {} if value is None else _forward_fields(decode_rcpt_forward, value)


def describe_line(text: str, detail: Callable[[str, Command], dict[str, object]]) -> Received[Command]:
    """What a ``received`` event says about a POP3, SMTP or LMTP command line.

    ``detail``: what the event adds about a command that parsed (XCLIENT fields and such).
    """
    try:
        command = parse_command(text)
    except SmtpParseError as err:
        return Received(None, {"command": None}, {"parse_error": str(err)})
    return Received(command, {"command": command.name}, detail(text, command))


def describe(text: str) -> Received[Command]:
    """What a ``received`` event says about an SMTP or LMTP command line."""
    return describe_line(text, _detail)


def _detail(text: str, command: Command) -> dict[str, object]:
    if command.name == "XCLIENT":
        return xclient_event_fields(text, SMTP)
    if command.name == "RCPT":
        return _rcpt_fields(command.args)
    return {}


# --- capture -------------------------------------------------------------------------------


def capture(session: Session) -> None:
    """Greet like a server, record every command, answer each; refuse or accept logins."""
    _Capture(session).run()


class _Capture(LineCapture):
    """One capture session and its little state: the transaction in progress."""

    def __init__(self, session: Session) -> None:
        super().__init__(session, describe)
        row = session.config.row
        self.lmtp = row.hello == LMTP_HELLO
        self.offers_auth = row.has_login
        self.offers_rcpt_forward = row.rcpt_forward and session.config.xrcptforward
        self.in_mail = False
        self.recipients: list[str] = []
        self.handlers: dict[str, Callable[[Command, dict[str, object]], bool]] = {
            "EHLO": self._hello,
            "LHLO": self._hello,
            "HELO": self._helo,
            "XCLIENT": self._xclient,
            "AUTH": self._auth,
            "MAIL": self._mail,
            "RCPT": self._rcpt,
            "DATA": self._data,
            "RSET": self._rset,
            "NOOP": self._noop,
            "QUIT": self._quit,
        }

    @property
    def greeting(self) -> str:
        return f"{HOSTNAME} {'LMTP' if self.lmtp else 'ESMTP'} mailhops capture"

    def run(self) -> None:
        self.reply(220, self.greeting)
        while True:
            line = self._next("a command")
            if line is None:
                return
            command, fields = self._record(line)
            if command is None:
                self.reply(500, "5.5.2 Invalid command syntax")
                continue
            handler = self.handlers.get(command.name)
            if handler is None:
                self.reply(502, "5.5.1 Unsupported command")
            elif not handler(command, fields):
                return

    def reply(self, code: int, *texts: str) -> None:
        for line in format_reply(code, texts):
            send_line(self.session.sock, line)

    def _refuse_too_long(self, err: LineTooLongError) -> None:
        self.reply(500, f"5.5.2 {err}")

    def _reset(self) -> None:
        self.in_mail = False
        self.recipients = []

    # --- commands; each returns whether the connection stays open ---

    def _hello(self, _command: Command, _fields: dict[str, object]) -> bool:
        self._reset()
        keywords = [HOSTNAME, "PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME"]
        if self.offers_auth:
            keywords.append("AUTH PLAIN LOGIN")
        if self.config.advertise:
            keywords.append(" ".join(("XCLIENT", *self.config.advertise)))
        if self.offers_rcpt_forward:
            keywords.append(RCPT_FORWARD_PARAM)
        self.reply(250, *keywords)
        return True

    def _helo(self, _command: Command, _fields: dict[str, object]) -> bool:
        self._reset()
        self.reply(250, HOSTNAME)
        return True

    def _xclient(self, _command: Command, fields: dict[str, object]) -> bool:
        # The replies are Dovecot's (smtp-server-cmd-xclient.c).
        if not self.config.advertise:
            self.reply(550, "5.7.14 You are not from trusted IP")
        elif self.in_mail:
            self.reply(503, "5.5.0 XCLIENT not permitted during a mail transaction")
        elif "xclient_error" in fields or "forward_error" in fields:
            error = fields.get("xclient_error", fields.get("forward_error"))
            self.reply(501, f"5.5.4 Invalid parameter: {error}")
        else:
            self._reset()
            self.reply(220, self.greeting)
        return True

    def _auth(self, command: Command, _fields: dict[str, object]) -> bool:
        mechanism, _, initial = command.args.partition(" ")
        mechanism = mechanism.upper()
        if mechanism not in ("PLAIN", "LOGIN"):
            self.reply(504, "5.5.4 Unsupported authentication mechanism")
            return True
        try:
            authzid, user = self._plain(initial) if mechanism == "PLAIN" else self._login(initial)
        except SmtpParseError as err:
            self.reply(501, f"5.5.2 {err}")
            return True
        except _Aborted:
            self.reply(501, "5.0.0 Authentication aborted")
            return True
        accepted = self.config.accept == "login"
        self.session.emit("auth", mechanism=mechanism, user=user, authzid=authzid, accepted=accepted)
        if accepted:
            self.reply(235, "2.7.0 Logged in.")
        else:
            self.reply(535, f"5.7.8 {REFUSED}")
        return True

    def _plain(self, initial: str) -> tuple[str, str]:
        authzid, user, _password = decode_sasl_plain(initial or self._challenge(""))
        return authzid, user

    def _login(self, initial: str) -> tuple[str, str]:
        user = decode_sasl_base64(initial or self._challenge(_AUTH_PROMPTS[0]))
        decode_sasl_base64(self._challenge(_AUTH_PROMPTS[1]))
        return "", user

    def _challenge(self, text: str) -> str:
        self.reply(334, text)
        response = self._auth_response()
        if response == "*":
            raise _Aborted
        return response

    def _mail(self, _command: Command, _fields: dict[str, object]) -> bool:
        if self.in_mail:
            self.reply(503, "5.5.0 MAIL already given")
            return True
        self.in_mail = True
        self.reply(250, "2.1.0 Ok")
        return True

    def _rcpt(self, command: Command, fields: dict[str, object]) -> bool:
        if not self.in_mail:
            self.reply(503, "5.5.0 MAIL needed first")
        elif "parse_error" in fields:
            self.reply(501, f"5.5.4 {fields['parse_error']}")
        elif ("forward" in fields or "forward_error" in fields) and not self.offers_rcpt_forward:
            self.reply(555, f"5.5.4 Unsupported RCPT parameter {RCPT_FORWARD_PARAM}")
        elif "forward_error" in fields:
            self.reply(501, f"5.5.4 Invalid {RCPT_FORWARD_PARAM}= parameter: {fields['forward_error']}")
        else:
            self.recipients.append(parse_path_args(command.args, "TO:").path)
            self.reply(250, "2.1.5 Ok")
        return True

    def _data(self, _command: Command, _fields: dict[str, object]) -> bool:
        if not self.recipients:
            self.reply(554, "5.5.0 No valid recipients")
            return True
        self.reply(354, "OK")
        self._read_content()
        if self.lmtp:
            for recipient in self.recipients:
                self.reply(250, f"2.0.0 {recipient} mailhops capture saved")
        else:
            self.reply(250, "2.0.0 Ok: queued by mailhops capture")
        self._reset()
        return True

    def _read_content(self) -> None:
        content = bytearray()
        while True:
            line = self._next("the message content")
            if line is None:
                raise RelayError("the client closed the connection in the middle of DATA")
            if is_data_end(line.text):
                break
            content += encode(unstuff(line.text)) + b"\r\n"
        self.session.emit(
            "message",
            recipients=list(self.recipients),
            size=len(content),
            content=decode(bytes(content[:MAX_RECORDED_CONTENT])),
            truncated=len(content) > MAX_RECORDED_CONTENT,
        )

    def _rset(self, _command: Command, _fields: dict[str, object]) -> bool:
        self._reset()
        self.reply(250, "2.0.0 Ok")
        return True

    def _noop(self, _command: Command, _fields: dict[str, object]) -> bool:
        self.reply(250, "2.0.0 Ok")
        return True

    def _quit(self, _command: Command, _fields: dict[str, object]) -> bool:
        self.reply(221, "2.0.0 Bye")
        return False


class _Aborted(Exception):
    """The client answered an AUTH challenge with ``*``."""


# --- inject --------------------------------------------------------------------------------


def inject(session: Session) -> None:
    """Send our own XCLIENT upstream first, then hand the client the upstream session."""
    errors = (RelayError, OSError, LineTooLongError)
    run_inject(session, _handshake, UPSTREAM_UNAVAILABLE, errors, _client_filter)


def _handshake(session: Session, upstream: socket.socket) -> bytes:
    """Greeting, our hello, XCLIENT and its reply; return the bytes owed to the client.

    The client gets the fresh greeting XCLIENT answered with, or the first one if
    XCLIENT was refused. An empty result means the upstream greeted with an error,
    which the client has been given.
    """
    reader = LineReader(upstream, "upstream")
    greeting = read_reply(reader, "the greeting")
    session.emit("upstream_greeting", line=greeting[0].text, lines=_texts(greeting))
    if parse_reply_line(greeting[-1].text).code != 220:
        session.emit("error", message=f"upstream greeted with {greeting[-1].text!r}")
        session.sock.sendall(b"".join(line.raw for line in greeting))
        return b""
    verb = _hello(session)
    send_line(upstream, f"{verb} {RELAY_HELO}")
    _check_advertised(session, _texts(read_reply(reader, f"the reply to {verb}")))
    line = format_xclient(session.config.xclient, SMTP)
    send_line(upstream, line)
    reply = read_reply(reader, "the reply to XCLIENT")
    session.emit("injected", line=line, reply=_texts(reply))
    head = reply
    if parse_reply_line(reply[-1].text).code != 220:
        session.emit("error", message=f"upstream refused XCLIENT: {reply[-1].text}")
        head = greeting
    # Anything upstream sent after its reply belongs to the client, in order.
    return b"".join(line.raw for line in head) + reader.take_unread()


def _hello(session: Session) -> str:
    hello = session.config.row.hello
    if hello is None:
        raise RelayError(f"protocol {session.config.protocol} has no hello command")
    return hello


def _check_advertised(session: Session, lines: list[str]) -> None:
    """Record the upstream's hello reply; an ``error`` if XCLIENT (or an attribute) is not offered.

    XCLIENT is sent anyway, as a front that trusts its configuration would.
    """
    try:
        advertised = parse_ehlo_reply(lines).xclient
    except SmtpParseError as err:
        session.emit("upstream_ehlo", lines=lines, xclient=None)
        session.emit("error", message=f"upstream hello reply: {err}; sending XCLIENT anyway")
        return
    session.emit("upstream_ehlo", lines=lines, xclient=None if advertised is None else list(advertised))
    if advertised is None:
        session.emit("error", message="upstream did not advertise XCLIENT; sending it anyway")
        return
    missing = [name for name, _ in session.config.xclient if name.upper() not in advertised]
    if missing:
        session.emit(
            "error",
            message=f"upstream did not advertise XCLIENT {' '.join(missing)}; sending it anyway",
        )


def _client_filter(session: Session) -> StreamFilter | None:
    if not session.config.rcpt_forward:
        return None

    def record(original: str, rewritten: str) -> None:
        session.emit("rewritten", original=original, line=rewritten)

    value = encode_rcpt_forward(session.config.rcpt_forward)
    return RcptParamAdder(RCPT_FORWARD_PARAM, value, on_rewrite=record)


def _texts(lines: list[Line]) -> list[str]:
    return [line.text for line in lines]


HANDLERS: dict[str, Handler] = {"capture": capture, "inject": inject}
WIRE = Wire(
    describe=describe,
    refusal=UPSTREAM_UNAVAILABLE,
    scanner=functools.partial(LineScanner, "STARTTLS", content_commands=True),
    answers=LINE_ANSWERS,
    rewriter=LineRewriter,
)
