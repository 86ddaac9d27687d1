"""The protocol table: one row per protocol a scenario can speak. Everything per protocol that is not its codec,
its relay session or its client driver is a field here, and those three are named here by module.

Stdlib only and free of imports of the rest of the harness: the relay (inside its container) reads it too.
A new protocol is one row, plus its codec in `harness/protocol/`, its relay session in `harness/relay/` and its
client driver in `harness/drive/` (the modules the row names)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

from harness.protocol.xclient import (
    DOVECOT24_LMTP_ADVERTISED,
    DOVECOT24_SUBMISSION_ADVERTISED,
    POP3,
    SMTP,
    Flavour,
)

IMAP_PARAMETERS = ("x-originating-ip", "x-originating-port", "x-connected-ip", "x-connected-port", "x-proxy-ttl",
                   "x-session-id", "x-session-ext-id", "x-forward-<name>")
POP3_PARAMETERS = ("ADDR", "PORT", "SESSION", "TTL", "FORWARD")
SMTP_PARAMETERS = ("ADDR", "ADDR=IPV6:", "PORT", "SESSION", "HELO", "LOGIN", "TIMEOUT", "TTL", "PROTO=SMTP",
                   "PROTO=ESMTP", "PROTO=LMTP", "FORWARD")
POSTFIX_PARAMETERS = ("ADDR", "ADDR=IPV6:", "PORT", "HELO", "LOGIN", "NAME", "PROTO=SMTP", "PROTO=ESMTP", "DESTADDR",
                      "DESTPORT")
"""What Postfix's smtpd takes in XCLIENT (XCLIENT_README: NAME, REVERSE_NAME, ADDR, PORT, PROTO, HELO, LOGIN,
DESTADDR, DESTPORT): SESSION, TTL, FORWARD and TIMEOUT are Dovecot's own, which Postfix does not offer."""


@dataclass(frozen=True)
class ProtocolRow:
    """How the harness speaks one protocol."""

    name: str
    port: int
    wire: Literal["imap", "pop3", "smtp"]
    """The codec family: the scanner of pass/mutate relays, how replies are framed."""
    forwards_with: Literal["id", "xclient"]
    """IMAP forwards with the ID command, every other protocol with XCLIENT."""
    xclient_flavour: Flavour | None
    """How XCLIENT values are encoded (pop3: raw; smtp: xtext), None without XCLIENT."""
    hello: str | None
    """The SMTP-family greeting command (EHLO, LHLO)."""
    logs_in: bool
    """A client session logs in unless the scenario says `login: null` (IMAP, POP3); others only when told to."""
    has_login: bool
    carries_mail: bool
    rcpt_forward: bool
    """XRCPTFORWARD on RCPT TO (LMTP)."""
    capture_advertise: tuple[str, ...]
    """What a capture relay offers by default (POP3: any non-empty list means `+OK [XCLIENT]`)."""
    parameters: tuple[str, ...]
    """The forwarding parameters of the spec for this protocol: rows of docs/COVERAGE.md."""
    driver: str
    """The module of the harness's client driver (a `drive(conversation, session)` function)."""
    relay_session: str
    """The module of the relay's sessions for this protocol (a `HANDLERS` mapping of mode -> handler)."""

    @property
    def tagged(self) -> bool:
        """Commands carry tags (IMAP)."""
        return self.wire == "imap"

    def driver_module(self) -> ModuleType:
        return importlib.import_module(self.driver)

    def relay_module(self) -> ModuleType:
        return importlib.import_module(self.relay_session)


_SMTP_LIKE = {"wire": "smtp", "forwards_with": "xclient", "xclient_flavour": SMTP, "logs_in": False,
              "carries_mail": True, "driver": "harness.drive.smtp", "relay_session": "harness.relay.smtp"}

ROWS = (
    ProtocolRow("imap", 143, wire="imap", forwards_with="id", xclient_flavour=None, hello=None, logs_in=True,
                has_login=True, carries_mail=False, rcpt_forward=False, capture_advertise=(),
                parameters=IMAP_PARAMETERS, driver="harness.drive.imap", relay_session="harness.relay.imap"),
    ProtocolRow("pop3", 110, wire="pop3", forwards_with="xclient", xclient_flavour=POP3, hello=None, logs_in=True,
                has_login=True, carries_mail=False, rcpt_forward=False,
                capture_advertise=("ADDR", "PORT", "SESSION", "TTL", "CLIENT-TRANSPORT", "DESTNAME", "FORWARD"),
                parameters=POP3_PARAMETERS, driver="harness.drive.pop3", relay_session="harness.relay.pop3"),
    ProtocolRow("submission", 587, hello="EHLO", has_login=True, rcpt_forward=False,
                capture_advertise=DOVECOT24_SUBMISSION_ADVERTISED, parameters=SMTP_PARAMETERS, **_SMTP_LIKE),
    ProtocolRow("lmtp", 24, hello="LHLO", has_login=False, rcpt_forward=True,
                capture_advertise=DOVECOT24_LMTP_ADVERTISED, parameters=SMTP_PARAMETERS, **_SMTP_LIKE),
    # Plain SMTP on port 25 (an MTA's smtpd): what submission speaks, on another port.
    ProtocolRow("smtp", 25, hello="EHLO", has_login=True, rcpt_forward=False,
                capture_advertise=DOVECOT24_SUBMISSION_ADVERTISED,
                parameters=POSTFIX_PARAMETERS, **_SMTP_LIKE),
)
PROTOCOLS: dict[str, ProtocolRow] = {row.name: row for row in ROWS}
NAMES: tuple[str, ...] = tuple(PROTOCOLS)
XCLIENT_PROTOCOLS: tuple[str, ...] = tuple(row.name for row in ROWS if row.forwards_with == "xclient")


def row(name: str) -> ProtocolRow:
    """The row of a protocol; KeyError names the known ones."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise KeyError(f"unknown protocol {name!r} (known: {', '.join(NAMES)})") from None
