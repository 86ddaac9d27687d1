"""The client's XCLIENT steps beyond the one after EHLO: a bare `XCLIENT` (`xclient: {}`), a second XCLIENT
(`xclient_again:`) and XCLIENT inside the mail transaction (`xclient_after: mail`), against the scripted fake
server of test_clients; and the session fields that would mean nothing, refused at load time."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from harness.drive import xclient_line
from harness.load.scenario import ClientSession
from tests.test_clients import drive, timings
from tests.test_clients import serve as serve  # the ``serve`` fixture

GREETING = "220 pf.mailhops.test ESMTP Postfix"
EHLO = ["250-pf.mailhops.test", "250-PIPELINING",
        "250 XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT"]
MAIL = {"from": "alice@example.test", "to": ["bob@example.net"]}


def test_an_empty_xclient_is_the_bare_command() -> None:
    assert xclient_line({}, "smtp") == "XCLIENT"
    assert xclient_line({}, "pop3") == "XCLIENT"


def test_bare_xclient_is_sent_and_no_ehlo_follows_its_refusal(serve: Any) -> None:
    fake = serve([
        (None, [GREETING]),
        ("EHLO", EHLO),
        ("XCLIENT", ["501 5.5.4 Syntax: XCLIENT attribute=value..."]),
        ("QUIT", ["221 2.0.0 Bye"]),
    ])
    transcript = drive(fake, {"protocol": "smtp", "to": "pf", "xclient": {}})
    assert timings(transcript.replies)["xclient_reply"] == "501 5.5.4 Syntax: XCLIENT attribute=value..."
    assert fake.received == ["EHLO client.example", "XCLIENT", "QUIT"]


def test_a_second_xclient_follows_the_first_and_its_ehlo(serve: Any) -> None:
    fake = serve([
        (None, [GREETING]),
        ("EHLO", EHLO),
        ("XCLIENT ADDR=203.0.113.9", [GREETING]),
        ("EHLO", ["250-pf.mailhops.test", "250 PIPELINING"]),
        ("XCLIENT ADDR=203.0.113.10", ["550 5.7.0 Error: insufficient authorization"]),
        ("MAIL FROM", ["250 2.1.0 Ok"]),
        ("RCPT TO", ["250 2.1.5 Ok"]),
        ("DATA", ["354 End data with <CR><LF>.<CR><LF>"]),
        (".", ["250 2.0.0 Ok: queued as 4Xz"]),
        ("QUIT", ["221 2.0.0 Bye"]),
    ])
    transcript = drive(fake, {"protocol": "smtp", "to": "pf", "xclient": {"ADDR": "203.0.113.9"},
                              "xclient_again": {"ADDR": "203.0.113.10", "LOGIN": "mallory"}, "mail": MAIL})
    replies = timings(transcript.replies)
    assert (replies["xclient"], replies["xclient_reply"]) == ("220", GREETING)
    assert (replies["xclient_again"], replies["xclient_again_reply"]) == (
        "550", "550 5.7.0 Error: insufficient authorization")
    assert "xclient_again_seconds" in transcript.replies
    assert replies["data"] == "250"
    assert fake.received[:5] == ["EHLO client.example", "XCLIENT ADDR=203.0.113.9", "EHLO client.example",
                                 "XCLIENT ADDR=203.0.113.10 LOGIN=mallory", "MAIL FROM:<alice@example.test>"]


def test_xclient_inside_the_transaction_comes_between_mail_and_rcpt(serve: Any) -> None:
    fake = serve([
        (None, [GREETING]),
        ("EHLO", EHLO),
        ("MAIL FROM", ["250 2.1.0 Ok"]),
        ("XCLIENT", ["503 5.5.1 Error: MAIL transaction in progress"]),
        ("RCPT TO", ["250 2.1.5 Ok"]),
        ("DATA", ["354 End data with <CR><LF>.<CR><LF>"]),
        (".", ["250 2.0.0 Ok: queued as 4Xz"]),
        ("QUIT", ["221 2.0.0 Bye"]),
    ])
    transcript = drive(fake, {"protocol": "smtp", "to": "pf", "xclient": {"ADDR": "203.0.113.9"},
                              "xclient_after": "mail", "mail": MAIL})
    replies = timings(transcript.replies)
    assert replies["xclient_reply"] == "503 5.5.1 Error: MAIL transaction in progress"
    assert (replies["mail"], replies["rcpt"], replies["data"]) == ("250", "250", "250")
    assert fake.received[:4] == ["EHLO client.example", "MAIL FROM:<alice@example.test>",
                                 "XCLIENT ADDR=203.0.113.9", "RCPT TO:<bob@example.net>"]


def test_xclient_after_a_refused_mail_is_still_sent_and_no_rcpt_follows(serve: Any) -> None:
    fake = serve([
        (None, [GREETING]),
        ("EHLO", EHLO),
        ("MAIL FROM", ["530 5.7.0 Authentication required"]),
        ("XCLIENT", [GREETING]),
        ("EHLO", EHLO),
        ("QUIT", ["221 2.0.0 Bye"]),
    ])
    transcript = drive(fake, {"protocol": "smtp", "to": "pf", "xclient": {"ADDR": "203.0.113.9"},
                              "xclient_after": "mail", "mail": MAIL})
    assert timings(transcript.replies)["xclient"] == "220"
    assert fake.received == ["EHLO client.example", "MAIL FROM:<alice@example.test>", "XCLIENT ADDR=203.0.113.9",
                             "EHLO client.example", "QUIT"]


def test_pop3_sends_a_second_xclient_too(serve: Any) -> None:
    fake = serve([
        (None, ["+OK [XCLIENT] Dovecot ready."]),
        ("XCLIENT", ["+OK Updated"]),
        ("XCLIENT", ["+OK Updated"]),
        ("USER", ["+OK"]),
        ("PASS", ["+OK Logged in."]),
        ("QUIT", ["+OK Logging out."]),
    ])
    transcript = drive(fake, {"protocol": "pop3", "to": "front", "xclient": {"ADDR": "203.0.113.7"},
                              "xclient_again": {"ADDR": "203.0.113.8"}})
    assert timings(transcript.replies)["xclient_again_reply"] == "+OK Updated"
    assert fake.received[:2] == ["XCLIENT ADDR=203.0.113.7", "XCLIENT ADDR=203.0.113.8"]


@pytest.mark.parametrize(
    ("session", "message"),
    [
        ({"protocol": "smtp", "xclient_again": {"ADDR": "203.0.113.9"}}, "give the first"),
        ({"protocol": "smtp", "xclient": {"ADDR": "203.0.113.9"}, "xclient_after": "mail"}, "mail:"),
        ({"protocol": "smtp", "mail": MAIL, "xclient_after": "mail"}, "xclient:"),
        ({"protocol": "pop3", "xclient": {"ADDR": "203.0.113.9"}, "xclient_after": "mail"}, "xclient_after"),
        ({"protocol": "smtp", "xclient": {"ADDR": "203.0.113.9"}, "mail": MAIL, "xclient_after": "rcpt"}, "ehlo"),
        ({"protocol": "imap", "xclient_again": {"ADDR": "203.0.113.9"}}, "xclient"),
    ],
)
def test_session_fields_that_mean_nothing_are_refused(session: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ClientSession.model_validate({"to": "pf", **session})
