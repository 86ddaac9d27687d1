"""A relay's `command` events: every command line it received, with the sender's address, so a capture that is
sent nothing to forward (a submission backend's relay host when the relay is not trusted) still shows who
connected and what it said."""

from __future__ import annotations

from harness.kinds.relay.kind import _received_events


def commands(record: dict[str, object]) -> list[dict[str, str]]:
    return [dict(event.fields) for event in _received_events(record) if event.kind == "command"]


def test_smtp_lines() -> None:
    assert commands({"peer": "10.7.0.12:40112", "line": "EHLO backend", "command": "EHLO"}) == [
        {"verb": "EHLO", "args": "backend", "peer": "10.7.0.12"}]
    assert commands({"peer": "10.7.0.12:40112", "line": "MAIL FROM:<a@example.net>", "command": "MAIL"}) == [
        {"verb": "MAIL", "args": "FROM:<a@example.net>", "peer": "10.7.0.12"}]
    assert commands({"peer": "10.7.0.12:40112", "line": "QUIT", "command": "QUIT"}) == [
        {"verb": "QUIT", "args": "", "peer": "10.7.0.12"}]


def test_imap_lines_lose_their_tag_and_ipv6_peers_their_brackets() -> None:
    assert commands({"peer": "[fd6d:6800::12]:40112", "line": 'L LOGIN "alice" "secret"', "tag": "L",
                     "command": "LOGIN"}) == [{"verb": "LOGIN", "args": '"alice" "secret"', "peer": "fd6d:6800::12"}]


def test_continuations_are_no_commands() -> None:
    assert commands({"peer": "10.7.0.12:40112", "line": "AGFsaWNlAGFsaWNlAHNlY3JldA==", "command": None,
                     "continuation": True}) == []


def test_an_xclient_line_is_both_a_command_and_an_xclient() -> None:
    record = {"peer": "10.7.0.12:40112", "line": "XCLIENT ADDR=203.0.113.7", "command": "XCLIENT",
              "xclient": [["ADDR", "203.0.113.7"]]}
    assert [event.kind for event in _received_events(record)] == ["xclient", "command"]
