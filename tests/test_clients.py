"""What the client puts on the wire for XCLIENT, per protocol (the session drivers run in the scenarios)."""

from __future__ import annotations

from harness.drive.clients import xclient_line


def test_pop3_forward_is_plain_base64() -> None:
    line = xclient_line({"ADDR": "203.0.113.7", "PORT": 51234, "FORWARD": {"tenant": "acme"}}, "pop3")
    assert line == "XCLIENT ADDR=203.0.113.7 PORT=51234 FORWARD=dGVuYW50PWFjbWU="


def test_smtp_values_are_xtext_and_names_upper_case() -> None:
    line = xclient_line({"addr": "IPV6:2001:db8::7", "forward": {"tenant": "acme"}}, "submission")
    assert line == "XCLIENT ADDR=IPV6:2001:db8::7 FORWARD=dGVuYW50PWFjbWU+3D"
    assert xclient_line({"NAME": "a+b"}, "smtp") == "XCLIENT NAME=a+2Bb"


def test_forward_given_as_a_string_is_sent_as_given() -> None:
    assert xclient_line({"FORWARD": "dGVuYW50PWFjbWU="}, "pop3") == "XCLIENT FORWARD=dGVuYW50PWFjbWU="
