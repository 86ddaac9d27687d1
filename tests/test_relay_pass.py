"""The relay's pass and mutate modes, every protocol, as real subprocesses on 127.0.0.1 (no Docker)."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.protocol.table import PROTOCOLS as TABLE
from harness.protocol.xclient import encode_forward
from harness.protocol.xtext import xtext_encode
from harness.relay.config import Mutation, load_config
from harness.relay.mutate import IdRewriter, LineRewriter
from harness.relay.protocols import HANDLERS, scanner_for, wire_of
from harness.relay.scan import CONTENT, LINE, PARTIAL, TLS, Segment
from tests.relay_support import (
    D23_WIRE,
    GREETING,
    LMTP_D23,
    LMTP_GREETING,
    POP3_D23_WIRE,
    POP3_GREETING,
    SMTP_GREETING,
    SUBMISSION_D24,
    TIMEOUT,
    Event,
    LineClient,
    Relay,
    config,
    run_with_config,
    start,
)
from tests.relay_support import started_relays as started_relays  # the ``relays`` fixture

PROTOCOLS = ("imap", "pop3", "submission", "lmtp")
GREETINGS = {"imap": GREETING, "pop3": POP3_GREETING, "submission": SMTP_GREETING, "lmtp": LMTP_GREETING}
GOODBYE = {"imap": b"zz LOGOUT\r\n", "pop3": b"QUIT\r\n", "submission": b"QUIT\r\n", "lmtp": b"QUIT\r\n"}
REFUSALS = {
    "imap": "* BYE mailhops relay: upstream unavailable",
    "pop3": "-ERR [SYS/TEMP] mailhops relay: upstream unavailable",
    "submission": "421 4.3.0 mailhops relay: upstream unavailable",
    "lmtp": "421 4.3.0 mailhops relay: upstream unavailable",
}
TWO_FIELDS = encode_forward([("tenant", "acme"), ("user", "u 1")])


def hop_config(protocol: str, upstream_port: int, mode: str = "pass", **extra: object) -> dict[str, object]:
    return config(protocol, mode, name="hop", upstream={"host": "127.0.0.1", "port": upstream_port}, **extra)


def chain(relays: list[Relay], protocol: str, mode: str = "pass", **extra: object) -> tuple[Relay, Relay]:
    """A capture and a pass/mutate hop in front of it."""
    capture_extra = {"accept": "login"} if protocol != "imap" else {}
    cap = start(relays, config(protocol, "capture", **capture_extra))
    hop = start(relays, hop_config(protocol, cap.port, mode, **extra))
    return cap, hop


def connect(hop: Relay, protocol: str) -> LineClient:
    client = LineClient(hop.port)
    assert client.line() == GREETINGS[protocol]
    return client


def received(relay: Relay) -> list[Event]:
    """The ``received`` events without what differs between two relays (peer, time, name)."""
    return [
        {key: value for key, value in event.items() if key not in ("peer", "t", "relay")}
        for event in relay.events
        if event["event"] == "received"
    ]


def finish(*relays: Relay) -> None:
    """Wait until connection 1 closed everywhere, so every event of it has been read."""
    for relay in relays:
        relay.wait_for("closed", conn=1)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError(f"closed after {len(data)} of {size} bytes: {data!r}")
        data += chunk
    return data


class FakeUpstream:
    """A server socket the test drives by hand: one accepted connection."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(TIMEOUT)
        self.port = self.server.getsockname()[1]
        self.sock: socket.socket | None = None

    def accept(self) -> socket.socket:
        self.sock, _ = self.server.accept()
        self.sock.settimeout(TIMEOUT)
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.server.close()


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    yield upstream
    upstream.close()


# --- pass: in front of a capture ------------------------------------------------------------------


def test_imap_pass_records_what_the_capture_records(relays: list[Relay]) -> None:
    cap, hop = chain(relays, "imap")
    client = connect(hop, "imap")
    client.send(D23_WIRE)
    assert client.until_tagged("I") == ["* ID NIL", "I OK ID completed."]
    client.until_tagged("L")
    client.send(b"a1 LOGIN {5}\r\n")
    assert client.line() == "+ OK"  # the capture's continuation, through the hop
    client.send(b"alice {6}\r\n")
    assert client.line() == "+ OK"
    client.send(b"se\r\nrt\r\n")
    client.until_tagged("a1")
    # A literal whose bytes look like a command, and a LITERAL+ ID.
    client.send(b'a2 LOGIN {11+}\r\nb3 LOGOUT\r\n "x"\r\na4 ID ({12+}\r\nx-session-id {3+}\r\ns 1 "k" "v")\r\n')
    client.until_tagged("a2")
    client.until_tagged("a4")
    client.send(b"a5 LOGOUT\r\n")
    client.until_tagged("a5")
    assert client.at_eof()
    finish(cap, hop)
    assert received(hop) == received(cap)
    assert [(e["tag"], e["command"], e["pipelined"]) for e in received(hop)] == [
        ("I", "ID", True),
        ("L", "LOGIN", False),
        ("a1", "LOGIN", False),
        ("a2", "LOGIN", True),
        ("a4", "ID", False),
        ("a5", "LOGOUT", False),
    ]
    assert received(hop)[3]["line"] == 'a2 LOGIN {11+}\r\nb3 LOGOUT\r\n "x"'
    assert received(hop)[4]["id"] == [["x-session-id", "s 1"], ["k", "v"]]
    assert hop.wait_for("upstream_greeting", conn=1)["line"] == GREETING
    assert not [e for e in hop.events if e["event"] in ("error", "mutated")]


def test_pop3_pass_records_what_the_capture_records(relays: list[Relay]) -> None:
    cap, hop = chain(relays, "pop3")
    client = connect(hop, "pop3")
    client.send(POP3_D23_WIRE)
    assert [client.line() for _ in range(2)] == ["+OK Updated", "+OK"]
    client.send(b"PASS secret\r\nAUTH PLAIN\r\n")
    assert [client.line() for _ in range(2)] == ["+OK Logged in.", "+ "]
    client.send(b"AGFsaWNlAHNlY3JldA==\r\nXOIP 198.51.100.1\r\nQUIT\r\n")
    assert [client.line() for _ in range(3)] == ["+OK Logged in.", "+OK Updated", "+OK Logging out."]
    assert client.at_eof()
    finish(cap, hop)
    assert received(hop) == received(cap)
    assert [e["command"] for e in received(hop)] == ["XCLIENT", "USER", "PASS", "AUTH", None, "XOIP", "QUIT"]
    assert received(hop)[0]["forward"] == [["tenant", "acme"]]
    assert received(hop)[4]["continuation"] is True


def test_submission_pass_keeps_message_content_out_of_the_commands(relays: list[Relay]) -> None:
    cap, hop = chain(relays, "submission")
    client = connect(hop, "submission")
    client.send(b"EHLO proxy.test\r\n" + SUBMISSION_D24.encode() + b"\r\nEHLO proxy.test\r\nAUTH LOGIN\r\n")
    client.reply()
    assert client.reply() == [SMTP_GREETING]
    client.reply()
    assert client.reply() == ["334 VXNlcm5hbWU6"]
    client.send(b"YWxpY2U=\r\n")
    assert client.reply() == ["334 UGFzc3dvcmQ6"]
    client.send(b"c2VjcmV0\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    assert [client.reply()[0] for _ in range(4)] == ["235 2.7.0 Logged in.", "250 2.1.0 Ok", "250 2.1.5 Ok", "354 OK"]
    client.send(b"XCLIENT ADDR=1.2.3.4\r\nRCPT TO:<in@body>\r\n\r\n..dot\r\n.\r\nQUIT\r\n")
    assert client.reply() == ["250 2.0.0 Ok: queued by mailhops capture"]
    assert client.reply() == ["221 2.0.0 Bye"]
    assert client.at_eof()
    finish(cap, hop)
    assert received(hop) == received(cap)
    commands = [e["command"] for e in received(hop)]
    assert commands == ["EHLO", "XCLIENT", "EHLO", "AUTH", None, None, "MAIL", "RCPT", "DATA", "QUIT"]
    assert received(hop)[1]["forward"] == [["tenant", "acme"]]
    assert "XCLIENT ADDR=1.2.3.4" not in [e["line"] for e in received(hop)]
    assert cap.wait_for("message", conn=1)["content"] == "XCLIENT ADDR=1.2.3.4\r\nRCPT TO:<in@body>\r\n\r\n.dot\r\n"


def test_lmtp_pass_records_xclient_and_xrcptforward(relays: list[Relay]) -> None:
    cap, hop = chain(relays, "lmtp")
    client = connect(hop, "lmtp")
    client.send(
        b"LHLO proxy.test\r\n" + LMTP_D23.encode() + b"\r\nLHLO proxy.test\r\nMAIL FROM:<s@example.test>\r\n"
        b"RCPT TO:<cap@example.test> XRCPTFORWARD=tenant+3Dacme\r\nDATA\r\n"
    )
    client.reply()
    assert client.reply() == [LMTP_GREETING]
    client.reply()
    assert [client.reply()[0] for _ in range(3)] == ["250 2.1.0 Ok", "250 2.1.5 Ok", "354 OK"]
    client.send(b"QUIT\r\n.\r\nQUIT\r\n")
    assert client.reply() == ["250 2.0.0 <cap@example.test> mailhops capture saved"]
    assert client.reply() == ["221 2.0.0 Bye"]
    finish(cap, hop)
    assert received(hop) == received(cap)
    assert [e["command"] for e in received(hop)] == ["LHLO", "XCLIENT", "LHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert received(hop)[4]["forward"] == [["tenant", "acme"]]
    assert cap.wait_for("message", conn=1)["content"] == "QUIT\r\n"


# --- pass: exact bytes both ways, against a fake upstream ----------------------------------------------

UPSTREAM_BYTES = b"\x03\xfe\x00\x01 channel 1\r\n\xff\xfe\x03\xfe\x00 back on 0 * OK no line end"
MESSAGE = b"b LOGOUT\r\n\x00\xff\x03\xfe\r\n"
CLIENT_WIRE = {
    "imap": D23_WIRE + b"a1 LOGIN {5}\r\nalice {6}\r\nse\r\nrt\r\n"
    + f"a2 APPEND INBOX {{{len(MESSAGE)}+}}\r\n".encode() + MESSAGE + b"\r\na3 NOOP\r\n",
    "pop3": POP3_D23_WIRE + b"PASS \xff\xfe\r\nAUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\nDATA\r\nSTAT\r\n",
    "submission": b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 26\r\nXCLIENT ADDR=1.2.3.4\r\n\x03\xfe\x00\xff"
    b"BDAT 0 LAST\r\nDATA\r\nXCLIENT ADDR=5.6.7.8\r\n..\r\n.\r\nNOOP\r\n",
    "lmtp": b"LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d> XRCPTFORWARD=k+3Dv\r\nBDAT 8 LAST\r\nDATA\r\n\r\n"
    b"RSET\r\n",
}
CLIENT_COMMANDS = {
    "imap": ["ID", "LOGIN", "LOGIN", "APPEND", "NOOP"],
    "pop3": ["XCLIENT", "USER", "PASS", "AUTH", None, "DATA", "STAT"],
    "submission": ["EHLO", "MAIL", "RCPT", "BDAT", "BDAT", "DATA", "NOOP"],
    "lmtp": ["LHLO", "MAIL", "RCPT", "BDAT", "RSET"],
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pass_sends_every_byte_unchanged_both_ways(relays: list[Relay], fake: FakeUpstream, protocol: str) -> None:
    hop = start(relays, hop_config(protocol, fake.port))
    client = LineClient(hop.port)
    upstream = fake.accept()
    greeting = GREETINGS[protocol].encode() + b"\r\n"
    upstream.sendall(greeting + UPSTREAM_BYTES)
    assert recv_exactly(client.sock, len(greeting + UPSTREAM_BYTES)) == greeting + UPSTREAM_BYTES
    client.send(CLIENT_WIRE[protocol])
    assert recv_exactly(upstream, len(CLIENT_WIRE[protocol])) == CLIENT_WIRE[protocol]
    upstream.close()
    assert client.at_eof()
    finish(hop)
    assert [e["command"] for e in received(hop)] == CLIENT_COMMANDS[protocol]
    assert hop.wait_for("upstream_greeting", conn=1)["line"] == GREETINGS[protocol]
    assert not [e for e in hop.events if e["event"] == "error"]


def test_pass_passes_a_partial_line_at_once(relays: list[Relay], fake: FakeUpstream) -> None:
    hop = start(relays, hop_config("submission", fake.port))
    client = LineClient(hop.port)
    upstream = fake.accept()
    client.send(b"EHLO unfinish")
    assert recv_exactly(upstream, 13) == b"EHLO unfinish"
    client.send(b"ed\r\n")
    assert recv_exactly(upstream, 4) == b"ed\r\n"
    assert hop.wait_for("received", conn=1)["line"] == "EHLO unfinished"


def test_pass_records_a_greeting_cut_off_by_the_upstream_closing(relays: list[Relay], fake: FakeUpstream) -> None:
    hop = start(relays, hop_config("pop3", fake.port))
    client = LineClient(hop.port)
    upstream = fake.accept()
    upstream.sendall(b"+OK no end")
    upstream.close()
    assert recv_exactly(client.sock, 10) == b"+OK no end"
    assert hop.wait_for("upstream_greeting", conn=1)["line"] == "+OK no end"
    finish(hop)


def test_pass_client_closing_closes_upstream(relays: list[Relay], fake: FakeUpstream) -> None:
    hop = start(relays, hop_config("imap", fake.port))
    client = LineClient(hop.port)
    upstream = fake.accept()
    client.send(b"a1 NOOP\r\n")
    assert recv_exactly(upstream, 9) == b"a1 NOOP\r\n"
    client.close()
    assert upstream.recv(10) == b""
    finish(hop)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pass_upstream_refused_behaves_like_inject(relays: list[Relay], protocol: str) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
        hop = start(relays, hop_config(protocol, closed.getsockname()[1]))
        client = LineClient(hop.port)
        assert client.line() == REFUSALS[protocol]
        assert client.at_eof()
        assert "cannot connect to upstream" in hop.wait_for("error", conn=1)["message"]
        finish(hop)


def test_pass_idle_connection_times_out(relays: list[Relay], fake: FakeUpstream) -> None:
    hop = start(relays, hop_config("lmtp", fake.port, timeout=0.3))
    client = LineClient(hop.port)
    fake.accept()
    assert "no traffic" in hop.wait_for("error", conn=1)["message"]
    finish(hop)
    assert client.at_eof()


def test_pass_stops_reading_commands_once_tls_starts(relays: list[Relay], fake: FakeUpstream) -> None:
    hop = start(relays, hop_config("submission", fake.port))
    client = LineClient(hop.port)
    upstream = fake.accept()
    wire = b"EHLO x\r\nSTARTTLS\r\n"
    client.send(wire)
    assert recv_exactly(upstream, len(wire)) == wire
    hello = b"\x16\x03\x01\x00\x05MAIL FROM:<x>\r\n"
    client.send(hello)
    assert recv_exactly(upstream, len(hello)) == hello
    hop.wait_for("tls", conn=1)
    client.close()
    finish(hop)
    assert [e["command"] for e in received(hop)] == ["EHLO", "STARTTLS"]


# --- mutate ----------------------------------------------------------------------------------------------


def through_mutate(relays: list[Relay], protocol: str, mutation: dict[str, object], wire: bytes) -> tuple[Relay, Relay]:
    """Send ``wire`` and goodbye through a mutate hop to a capture; return both once all is recorded."""
    cap, hop = chain(relays, protocol, "mutate", mutate=mutation)
    client = connect(hop, protocol)
    client.send(wire + GOODBYE[protocol])
    finish(cap, hop)
    client.close()
    return cap, hop


def mutated(hop: Relay) -> list[Event]:
    return [{key: value for key, value in e.items() if key not in ("t", "relay")} for e in hop.events
            if e["event"] == "mutated"]


def first_received(cap: Relay, command: str) -> Event:
    return next(e for e in received(cap) if e["command"] == command)


IMAP_D23_ID = D23_WIRE.split(b"\r\n")[0].decode()


@pytest.mark.parametrize(
    ("mutation", "expected_id"),
    [
        ({"drop": ["X-Originating-IP", "x-session-id"]}, {"x-originating-ip": None, "x-session-id": None}),
        ({"drop_forward": ["tenant"]}, {"x-forward-tenant": None}),
        ({"ttl_delta": 1}, {"x-proxy-ttl": "5"}),
        ({"ttl_delta": -3}, {"x-proxy-ttl": "1"}),
        ({"set": {"x-originating-ip": "192.0.2.66", "x-new": None}}, {"x-originating-ip": "192.0.2.66", "x-new": None}),
    ],
)
def test_imap_mutate_rewrites_the_id(relays: list[Relay], mutation: dict[str, object], expected_id: dict) -> None:
    cap, hop = through_mutate(relays, "imap", mutation, D23_WIRE)
    original = dict(first_received(hop, "ID")["id"])
    seen = first_received(cap, "ID")
    fields = dict(seen["id"])
    assert len(seen["id"]) == len(fields)
    for key, value in expected_id.items():
        if value is None and key not in mutation.get("set", {}):  # type: ignore[operator]
            assert key not in fields
        else:
            assert fields[key] == value
    untouched = {key: value for key, value in original.items() if key not in expected_id}
    assert {key: fields[key] for key in untouched} == untouched
    assert mutated(hop) == [{"event": "mutated", "conn": 1, "original": IMAP_D23_ID, "line": seen["line"]}]
    # The LOGIN pipelined behind the ID arrives unchanged, and still pipelined behind it.
    assert [e["line"] for e in received(cap)][1:] == ['L LOGIN "alice" "secret"', "zz LOGOUT"]
    assert seen["pipelined"] is True
    assert received(hop)[0]["line"] == IMAP_D23_ID


def test_imap_mutate_that_matches_nothing_is_recorded_as_unchanged(relays: list[Relay]) -> None:
    cap, hop = through_mutate(relays, "imap", {"drop": ["x-absent"], "drop_forward": ["absent"]}, D23_WIRE)
    assert first_received(cap, "ID")["line"] == IMAP_D23_ID
    assert mutated(hop) == [{"event": "mutated", "conn": 1, "original": IMAP_D23_ID, "line": IMAP_D23_ID,
                             "unchanged": True}]


def test_imap_mutate_rewrites_only_the_first_id(relays: list[Relay]) -> None:
    wire = b'a1 NOOP\r\na2 ID ("x-proxy-ttl" "4")\r\na3 ID ("x-proxy-ttl" "4")\r\n'
    cap, hop = through_mutate(relays, "imap", {"ttl_delta": 1}, wire)
    assert [e["line"] for e in received(cap)] == [
        "a1 NOOP",
        'a2 ID ("x-proxy-ttl" "5")',
        'a3 ID ("x-proxy-ttl" "4")',
        "zz LOGOUT",
    ]
    assert len(mutated(hop)) == 1


def test_imap_mutate_rewrites_an_id_with_literal_plus(relays: list[Relay]) -> None:
    wire = b'I ID ("x-proxy-ttl" {1+}\r\n4 "x-forward-tenant" {4+}\r\nacme)\r\nL NOOP\r\n'
    cap, hop = through_mutate(relays, "imap", {"ttl_delta": 1, "drop_forward": ["tenant"]}, wire)
    assert first_received(cap, "ID")["line"] == 'I ID ("x-proxy-ttl" "5")'
    assert mutated(hop)[0]["original"] == 'I ID ("x-proxy-ttl" {1+}\r\n4 "x-forward-tenant" {4+}\r\nacme)'
    assert first_received(cap, "NOOP")["line"] == "L NOOP"


def test_imap_mutate_lets_an_id_with_a_synchronizing_literal_pass(relays: list[Relay]) -> None:
    cap, hop = chain(relays, "imap", "mutate", mutate={"ttl_delta": 1})
    client = connect(hop, "imap")
    client.send(b'I ID ("x-proxy-ttl" {1}\r\n')
    assert client.line() == "+ OK"  # held back, the client would wait for this for ever
    client.send(b"4)\r\n")
    assert client.until_tagged("I")[-1] == "I OK ID completed."
    assert cap.wait_for("received", command="ID")["id"] == [["x-proxy-ttl", "4"]]
    event = hop.wait_for("mutated", conn=1)
    assert (event["unchanged"], event["line"]) == (True, 'I ID ("x-proxy-ttl" {1}')
    assert "synchronizing literal" in event["error"]


POP3_XCLIENT = POP3_D23_WIRE.split(b"\r\n")[0].decode()


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        ({"drop": ["addr"]}, "XCLIENT PORT=51234 SESSION=abc123 TTL=4 FORWARD=dGVuYW50PWFjbWU="),
        ({"drop_forward": ["tenant"]}, "XCLIENT ADDR=203.0.113.7 PORT=51234 SESSION=abc123 TTL=4"),
        ({"ttl_delta": 1}, "XCLIENT ADDR=203.0.113.7 PORT=51234 SESSION=abc123 TTL=5 FORWARD=dGVuYW50PWFjbWU="),
        (
            {"set": {"ADDR": "192.0.2.66", "FORWARD": [["k", "v"]], "DESTNAME": "imap.example"}},
            "XCLIENT ADDR=192.0.2.66 PORT=51234 SESSION=abc123 TTL=4 FORWARD=az12 DESTNAME=imap.example",
        ),
        ({"drop": ["DESTADDR"]}, POP3_XCLIENT),
    ],
)
def test_pop3_mutate_rewrites_xclient(relays: list[Relay], mutation: dict[str, object], expected: str) -> None:
    cap, hop = through_mutate(relays, "pop3", mutation, POP3_D23_WIRE)
    assert first_received(cap, "XCLIENT")["line"] == expected
    event = {"event": "mutated", "conn": 1, "original": POP3_XCLIENT, "line": expected}
    assert mutated(hop) == [event if expected != POP3_XCLIENT else {**event, "unchanged": True}]
    assert first_received(cap, "USER")["line"] == "USER cap"
    assert first_received(cap, "XCLIENT")["pipelined"] is True


def test_pop3_mutate_re_encodes_forward_as_plain_base64(relays: list[Relay]) -> None:
    wire = f"XCLIENT ADDR=203.0.113.7 FORWARD={TWO_FIELDS}\r\nXCLIENT FORWARD={TWO_FIELDS} TTL=2\r\n".encode()
    cap, hop = through_mutate(relays, "pop3", {"drop_forward": ["TENANT"]}, wire)
    kept = base64.b64encode(b"user=u 1").decode()
    assert [e["line"] for e in received(cap)][:2] == [
        f"XCLIENT ADDR=203.0.113.7 FORWARD={kept}",
        f"XCLIENT FORWARD={kept} TTL=2",
    ]
    assert [e["forward"] for e in received(cap)[:2]] == [[["user", "u 1"]]] * 2
    assert len(mutated(hop)) == 2


@pytest.mark.parametrize(
    ("mutation", "check"),
    [
        ({"drop": ["Session", "CLIENT-TRANSPORT"]}, lambda x: "SESSION" not in x and "CLIENT-TRANSPORT" not in x),
        ({"ttl_delta": 1}, lambda x: x["TTL"] == "5"),
        ({"set": {"addr": "IPV6:2001:db8::66", "LOGIN": "a b"}}, lambda x: (x["ADDR"], x["LOGIN"]) == (
            "IPV6:2001:db8::66", "a b")),
    ],
)
def test_submission_mutate_rewrites_xclient(relays: list[Relay], mutation: dict[str, object], check: Any) -> None:
    cap, hop = through_mutate(relays, "submission", mutation, SUBMISSION_D24.encode() + b"\r\nNOOP\r\n")
    seen = first_received(cap, "XCLIENT")
    assert check(dict(seen["xclient"]))
    assert "xclient_error" not in seen
    assert mutated(hop) == [{"event": "mutated", "conn": 1, "original": SUBMISSION_D24, "line": seen["line"]}]
    assert first_received(cap, "NOOP")["line"] == "NOOP"


def test_submission_mutate_re_encodes_forward_as_xtext_of_base64(relays: list[Relay]) -> None:
    wire = f"XCLIENT ADDR=203.0.113.7 FORWARD={xtext_encode(TWO_FIELDS)} TTL=4\r\n".encode()
    cap, hop = through_mutate(relays, "submission", {"drop_forward": ["tenant"]}, wire)
    seen = first_received(cap, "XCLIENT")
    kept = encode_forward([("user", "u 1")])
    assert seen["xclient_raw"] == [["ADDR", "203.0.113.7"], ["FORWARD", xtext_encode(kept)], ["TTL", "4"]]
    assert seen["forward"] == [["user", "u 1"]]
    assert "+3D" in xtext_encode(kept)
    assert mutated(hop)[0]["line"] == seen["line"]


LMTP_RCPT = "RCPT TO:<cap@example.test> XRCPTFORWARD=tenant+3Dacme+09user+3Du+201"


def test_lmtp_mutate_rewrites_xclient_and_rcpt(relays: list[Relay]) -> None:
    wire = f"LHLO x\r\n{LMTP_D23}\r\nMAIL FROM:<s@x>\r\n{LMTP_RCPT}\r\nRCPT TO:<two@x> XRCPTFORWARD=tenant+3Dacme\r\n"
    cap, hop = through_mutate(relays, "lmtp", {"ttl_delta": -1, "drop_forward": ["tenant"]}, wire.encode())
    assert dict(first_received(cap, "XCLIENT")["xclient"])["TTL"] == "3"
    rcpts = [e for e in received(cap) if e["command"] == "RCPT"]
    assert [e["line"] for e in rcpts] == ["RCPT TO:<cap@example.test> XRCPTFORWARD=user+3Du+201", "RCPT TO:<two@x>"]
    assert rcpts[0]["forward"] == [["user", "u 1"]]
    assert "forward" not in rcpts[1]
    assert [(e["original"], e["line"]) for e in mutated(hop)] == [
        (LMTP_D23, LMTP_D23.replace("TTL=4", "TTL=3")),
        (LMTP_RCPT, rcpts[0]["line"]),
        ("RCPT TO:<two@x> XRCPTFORWARD=tenant+3Dacme", "RCPT TO:<two@x>"),
    ]


def test_lmtp_mutate_without_drop_forward_leaves_rcpt_alone(relays: list[Relay]) -> None:
    cap, hop = through_mutate(relays, "lmtp", {"drop": ["TTL"]}, f"MAIL FROM:<s@x>\r\n{LMTP_RCPT}\r\n".encode())
    assert first_received(cap, "RCPT")["line"] == LMTP_RCPT
    assert mutated(hop) == []


def test_mutate_leaves_content_and_everything_else_unchanged(relays: list[Relay], fake: FakeUpstream) -> None:
    hop = start(relays, hop_config("lmtp", fake.port, "mutate", mutate={"ttl_delta": 1, "drop_forward": ["tenant"]}))
    client = LineClient(hop.port)
    upstream = fake.accept()
    upstream.sendall(b"220 fake\r\n" + UPSTREAM_BYTES)
    assert recv_exactly(client.sock, 10 + len(UPSTREAM_BYTES)) == b"220 fake\r\n" + UPSTREAM_BYTES
    before = b"LHLO x\r\nxclient  TTL=4 \r\nMAIL FROM:<s@x>\r\n"
    content = (
        b"DATA\r\nXCLIENT TTL=4\r\nRCPT TO:<a@b> XRCPTFORWARD=tenant+3Dx\r\n.\r\nBDAT 15 LAST\r\nXCLIENT TTL=4\r\n"
    )
    client.send(before + b"RCPT TO:<a@b> XRCPTFORWARD=tenant+3Dx\n" + content + b"QUIT\r\n")
    expected = b"LHLO x\r\nxclient TTL=5\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@b>\n" + content + b"QUIT\r\n"
    assert recv_exactly(upstream, len(expected)) == expected
    upstream.close()
    finish(hop)
    assert [e["line"] for e in mutated(hop)] == ["xclient TTL=5", "RCPT TO:<a@b>"]
    assert [e["command"] for e in received(hop)] == ["LHLO", "XCLIENT", "MAIL", "RCPT", "DATA", "BDAT", "QUIT"]


@pytest.mark.parametrize("protocol", ["pop3", "submission"])
def test_mutate_malformed_xclient_passes_unchanged_with_an_error(relays: list[Relay], protocol: str) -> None:
    cap, hop = through_mutate(relays, protocol, {"ttl_delta": 1}, b"XCLIENT ADDR\r\n")
    assert first_received(cap, "XCLIENT")["line"] == "XCLIENT ADDR"
    event = mutated(hop)[0]
    assert (event["line"], event["unchanged"]) == ("XCLIENT ADDR", True)
    assert "attribute=value" in event["error"]


# --- configuration ---------------------------------------------------------------------------------------


def mutate_config(protocol: str, mutation: object) -> dict[str, object]:
    return hop_config(protocol, 143, "mutate", mutate=mutation)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (config("imap", "pass"), "upstream is required in pass mode"),
        (hop_config("imap", 143, "mutate"), "mutate is required in mutate mode"),
        (hop_config("imap", 143, "pass", mutate={"drop": []}), "mutate is only valid in mutate mode, not pass"),
        (config("imap", "capture", mutate={"drop": []}), "mutate is only valid in mutate mode"),
        (hop_config("imap", 143, "pass", id=[]), "id is only valid in inject mode"),
        (hop_config("pop3", 110, "mutate", mutate={}, advertise=[]), "advertise is only valid in capture mode"),
        (config("pop3", "capture", upstream={"host": "h", "port": 1}), "inject, pass or mutate"),
        (mutate_config("imap", {}), "mutate must be an object"),
        (mutate_config("imap", ["drop"]), "mutate must be an object"),
        (mutate_config("imap", {"dorp": []}), "unknown mutate key(s): dorp"),
        (mutate_config("imap", {"ttl_delta": "1"}), "mutate.ttl_delta"),
        (mutate_config("imap", {"ttl_delta": True}), "mutate.ttl_delta"),
        (mutate_config("imap", {"ttl_delta": 1.5}), "mutate.ttl_delta"),
        (mutate_config("imap", {"drop": "x-proxy-ttl"}), "mutate.drop"),
        (mutate_config("pop3", {"drop": [1]}), "mutate.drop"),
        (mutate_config("lmtp", {"drop_forward": [""]}), "mutate.drop_forward"),
        (mutate_config("imap", {"set": []}), "mutate.set"),
        (mutate_config("imap", {"set": {"k": 1}}), "mutate.set"),
        (mutate_config("imap", {"set": {"k": "a\r\nb"}}), "CR"),
        (mutate_config("pop3", {"set": {"ADDR": "1 2"}}), "SP"),
        (mutate_config("submission", {"set": {"PORT": 1}}), "mutate.set PORT"),
        (mutate_config("submission", {"set": {"ADDR": None}}), "mutate.set ADDR"),
        (mutate_config("submission", {"set": {"A B": "x"}}), "name"),
        (mutate_config("lmtp", {"set": {"FORWARD": [["a=b", "v"]]}}), "FORWARD"),
    ],
)
def test_bad_config_exits_2_with_one_line(settings: dict[str, object], message: str) -> None:
    result = run_with_config(json.dumps(settings))
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr


def test_load_config_for_pass_and_mutate() -> None:
    passing = load_config(json.dumps(hop_config("lmtp", 24)), protocols=HANDLERS)
    assert (passing.mode, passing.upstream, passing.mutate) == ("pass", passing.upstream, None)
    assert passing.upstream is not None and passing.upstream.port == 24
    mutation = {"drop": ["ADDR"], "drop_forward": ["tenant"], "ttl_delta": -1, "set": {"FORWARD": [["k", "v"]]}}
    mutating = load_config(json.dumps(mutate_config("submission", mutation)), protocols=HANDLERS)
    assert mutating.mutate == Mutation(("ADDR",), ("tenant",), -1, {"FORWARD": [["k", "v"]]})
    assert mutating.mutate.set_fields("submission") == (("FORWARD", "az12"),)
    imap = load_config(json.dumps(mutate_config("imap", {"set": {"x-a": None, "x-b": "v"}})), protocols=HANDLERS)
    assert imap.mutate == Mutation(set={"x-a": None, "x-b": "v"})
    assert imap.mutate.set_fields("imap") == (("x-a", None), ("x-b", "v"))


# --- the scan and the rewriters, without sockets -------------------------------------------------------

WIRE_PIECES = st.lists(
    st.sampled_from(
        [b"a1 ID NIL", b"x LOGIN {3}", b"{2+}", b"{0}", b"{", b"}", b"DATA", b"BDAT 3", b"BDAT 2 LAST", b".", b"..",
         b"XCLIENT TTL=4", b"RCPT TO:<a@b> XRCPTFORWARD=k+3Dv", b"STARTTLS", b"a STARTTLS", b"STLS", b"\x16",
         b"\r\n", b"\n", b"\r", b" ", b"\x00\xff", b"x"]
    ),
    max_size=40,
).map(b"".join)


def scan_all(protocol: str, data: bytes, cuts: list[int]) -> list[Segment]:
    scanner = scanner_for(protocol)
    segments: list[Segment] = []
    start_at = 0
    for cut in sorted(cuts):
        segments += scanner.feed(data[start_at:cut])
        start_at = cut
    return segments + scanner.feed(data[start_at:]) + scanner.flush()


@given(st.sampled_from(PROTOCOLS), WIRE_PIECES, st.data())
def test_the_pieces_are_the_stream(protocol: str, data: bytes, draw: st.DataObject) -> None:
    cuts = draw.draw(st.lists(st.integers(0, len(data)), max_size=6))
    segments = scan_all(protocol, data, cuts)
    assert b"".join(segment.raw for segment in segments) == data
    assert all(segment.raw for segment in segments)


@given(st.sampled_from(PROTOCOLS), WIRE_PIECES, st.data())
def test_a_mutation_that_matches_nothing_changes_no_byte(protocol: str, data: bytes, draw: st.DataObject) -> None:
    cuts = draw.draw(st.lists(st.integers(0, len(data)), max_size=6))
    reports: list[tuple[str, str]] = []

    def report(original: str, line: str, error: str | None = None) -> None:
        reports.append((original, line))

    mutation = Mutation(drop=("NO.SUCH",), drop_forward=("absent",))
    rewriter = wire_of(protocol).rewriter(TABLE[protocol], mutation, report)
    assert isinstance(rewriter, IdRewriter if protocol == "imap" else LineRewriter)
    out = b"".join(rewriter.take(segment) for segment in scan_all(protocol, data, cuts)) + rewriter.flush()
    assert out == data
    assert all(original == line for original, line in reports)


def test_imap_scan_follows_literals() -> None:
    segments = scanner_for("imap").feed(b"a LOGIN {11}\r\nb2 LOGOUT\r\n {2+}\r\n\r\n\r\nc NOOP\r\n")
    assert [(s.kind, s.raw, s.first, s.last) for s in segments] == [
        (LINE, b"a LOGIN {11}\r\n", True, False),
        (CONTENT, b"b2 LOGOUT\r\n", False, False),
        (LINE, b" {2+}\r\n", False, False),
        (CONTENT, b"\r\n", False, False),
        (LINE, b"\r\n", False, True),
        (LINE, b"c NOOP\r\n", True, True),
    ]
    assert [s.pipelined for s in segments if s.last] == [True, False]


def test_smtp_scan_data_and_bdat_content() -> None:
    segments = scanner_for("lmtp").feed(b"DATA\r\nQUIT\r\n..\r\n.\r\nBDAT 4 LAST\r\nQUIT\r\nNOOP\n")
    assert [(s.kind, s.raw) for s in segments] == [
        (LINE, b"DATA\r\n"),
        (CONTENT, b"QUIT\r\n"),
        (CONTENT, b"..\r\n"),
        (CONTENT, b".\r\n"),
        (LINE, b"BDAT 4 LAST\r\n"),
        (CONTENT, b"QUIT"),
        (LINE, b"\r\n"),
        (LINE, b"NOOP\n"),
    ]
    assert [s.kind for s in scanner_for("pop3").feed(b"DATA\r\nQUIT\r\n")] == [LINE, LINE]


def test_scan_hands_out_an_over_long_line_in_parts() -> None:
    scanner = scanner_for("submission")
    first = scanner.feed(b"X" * 70000)
    assert [(s.kind, s.first, s.last) for s in first] == [(PARTIAL, True, False)]
    rest = scanner.feed(b"YY\r\nNOOP\r\n")
    assert [(s.kind, s.raw, s.last) for s in rest] == [(PARTIAL, b"YY\r\n", True), (LINE, b"NOOP\r\n", True)]


@pytest.mark.parametrize(("protocol", "command"), [("imap", b"a STARTTLS\r\n"), ("pop3", b"STLS\r\n")])
def test_scan_turns_opaque_when_a_tls_handshake_follows_starttls(protocol: str, command: bytes) -> None:
    scanner = scanner_for(protocol)
    assert [s.kind for s in scanner.feed(command)] == [LINE]
    assert [(s.kind, s.raw) for s in scanner.feed(b"\x16\x03\x01\nQUIT\r\n")] == [(TLS, b"\x16\x03\x01\nQUIT\r\n")]
    assert [s.kind for s in scanner.feed(b"more\n")] == [TLS]
    refused = scanner_for(protocol)
    refused.feed(command)
    assert [s.kind for s in refused.feed(b"NOOP\r\n")] == [LINE]


def test_scan_of_a_stream_that_starts_with_tls_is_opaque() -> None:
    assert [s.kind for s in scanner_for("imap").feed(b"\x16\x03\x01a NOOP\r\n")] == [TLS]
