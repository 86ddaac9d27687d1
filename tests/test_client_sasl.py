"""The client logs in as mail clients mostly do when told `login: {sasl: true}`: IMAP `AUTHENTICATE PLAIN` with
the initial response in the command (SASL-IR), POP3 `AUTH PLAIN <initial response>`; against the scripted fake
server of test_clients."""

from __future__ import annotations

import base64
from typing import Any

from harness.load.scenario import Login
from tests.test_clients import drive, timings
from tests.test_clients import serve as serve  # the ``serve`` fixture

CREDENTIALS = base64.b64encode(b"\0alice\0secret").decode()


def test_the_initial_response_is_nul_user_nul_password() -> None:
    assert Login().plain_response() == CREDENTIALS
    assert base64.b64decode(Login(user="bob", password="p w").plain_response()) == b"\0bob\0p w"


def test_imap_authenticates_with_sasl_ir(serve: Any) -> None:
    fake = serve([
        (None, ["* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] Dovecot ready."]),
        ("c2 AUTHENTICATE", ["c2 OK [CAPABILITY IMAP4rev1] Logged in"]),
        ("c3 LOGOUT", ["* BYE Logging out", "c3 OK Logout completed."]),
    ])
    transcript = drive(fake, {"to": "p", "login": {"sasl": True}})
    assert fake.received[0] == f"c2 AUTHENTICATE PLAIN {CREDENTIALS}"
    assert timings(transcript.replies)["login_reply"] == "OK [CAPABILITY IMAP4rev1] Logged in"
    assert "c2 AUTHENTICATE PLAIN <credentials>" in "\n".join(transcript.lines)
    assert CREDENTIALS not in "\n".join(transcript.lines)


def test_pop3_authenticates_with_auth_plain_and_no_user_command(serve: Any) -> None:
    fake = serve([
        (None, ["+OK Dovecot ready."]),
        ("AUTH PLAIN", ["+OK Logged in."]),
        ("QUIT", ["+OK Logging out."]),
    ])
    transcript = drive(fake, {"protocol": "pop3", "to": "p", "login": {"sasl": True}})
    assert fake.received == [f"AUTH PLAIN {CREDENTIALS}", "QUIT"]
    assert timings(transcript.replies)["login"] == "+OK"


def test_without_sasl_the_commands_are_login_and_user_pass(serve: Any) -> None:
    fake = serve([(None, ["+OK Dovecot ready."]), ("USER", ["+OK"]), ("PASS", ["+OK Logged in."]),
                  ("QUIT", ["+OK Logging out."])])
    drive(fake, {"protocol": "pop3", "to": "p"})
    assert fake.received == ["USER alice", "PASS secret", "QUIT"]
