"""The POP3, submission and LMTP relay as a real subprocess on 127.0.0.1, driven with sockets (no Docker)."""

from __future__ import annotations

import json
import socket

import pytest

from harness.protocol.table import PROTOCOLS
from harness.relay.config import load_config
from harness.relay.protocols import HANDLERS
from tests.relay_support import (
    LMTP_D23,
    LMTP_GREETING,
    POP3_D23_WIRE,
    POP3_GREETING,
    SMTP_GREETING,
    SUBMISSION_D24,
    LineClient,
    Relay,
    config,
    run_with_config,
    start,
)
from tests.relay_support import started_relays as started_relays  # the ``relays`` fixture

POP3_REFUSED = "-ERR [AUTH] mailhops capture refuses every login"
SMTP_REFUSED = "535 5.7.8 mailhops capture refuses every login"
POSTFIX_LIST = ["NAME", "ADDR", "PROTO", "HELO", "REVERSE_NAME", "PORT", "LOGIN", "DESTADDR", "DESTPORT"]
# Verbatim from observed-findings.md E5/E6: what Dovecot proxies sent to the next hop.
POP3_D24 = "XCLIENT ADDR=203.0.113.7 PORT=51234 SESSION=abc123 TTL=4 CLIENT-TRANSPORT=insecure FORWARD=dGVuYW50PWFjbWU="


def inject_config(protocol: str, upstream_port: int, xclient: list[list[object]], **extra: object) -> dict[str, object]:
    upstream = {"host": "127.0.0.1", "port": upstream_port}
    return config(protocol, "inject", name="front", upstream=upstream, xclient=xclient, **extra)


def connect(relay: Relay, greeting: str) -> LineClient:
    client = LineClient(relay.port)
    assert client.line() == greeting
    return client


# --- POP3 capture -----------------------------------------------------------------------------------------


def test_pop3_capture_records_dovecot_23_xclient_pipelined_with_user(relays: list[Relay]) -> None:
    cap = start(relays, config("pop3", "capture"))
    client = connect(cap, POP3_GREETING)
    client.send(POP3_D23_WIRE)
    assert client.line() == "+OK Updated"
    assert client.line() == "+OK"
    client.send(b"PASS secret\r\n")
    assert client.line() == POP3_REFUSED
    xclient = cap.wait_for("received", command="XCLIENT")
    assert xclient["line"] == POP3_D23_WIRE.split(b"\r\n")[0].decode()
    assert (xclient["conn"], xclient["pipelined"]) == (1, True)
    assert xclient["xclient"] == [
        ["ADDR", "203.0.113.7"],
        ["PORT", "51234"],
        ["SESSION", "abc123"],
        ["TTL", "4"],
        ["FORWARD", "dGVuYW50PWFjbWU="],
    ]
    assert xclient["xclient_raw"] == xclient["xclient"]
    assert xclient["forward"] == [["tenant", "acme"]]
    assert "xclient_error" not in xclient
    assert cap.wait_for("received", command="USER")["pipelined"] is False
    auth = cap.wait_for("auth", conn=1)
    assert (auth["mechanism"], auth["user"], auth["accepted"]) == ("USER", "cap", False)


def test_pop3_capture_dovecot_24_and_ipv6(relays: list[Relay]) -> None:
    cap = start(relays, config("pop3", "capture"))
    client = connect(cap, POP3_GREETING)
    client.send(POP3_D24.encode() + b"\r\n")
    assert client.line() == "+OK Updated"
    client.send(b"XCLIENT ADDR=2001:db8::7 PORT=51234\r\nXCLIENT ADDR=IPV6:2001:db8::7\r\nXOIP 198.51.100.1\r\n")
    assert [client.line() for _ in range(3)] == ["+OK Updated", "-ERR Invalid parameters", "+OK Updated"]
    first = cap.wait_for("received", line=POP3_D24)
    assert ["CLIENT-TRANSPORT", "insecure"] in first["xclient"]
    assert cap.wait_for("received", line="XCLIENT ADDR=2001:db8::7 PORT=51234")["xclient"][0] == ["ADDR", "2001:db8::7"]
    prefixed = cap.wait_for("received", line="XCLIENT ADDR=IPV6:2001:db8::7")
    assert "IPV6:" in prefixed["xclient_error"]
    assert cap.wait_for("received", command="XOIP")["xclient"] == [["ADDR", "198.51.100.1"]]


def test_pop3_capture_bad_xclient_is_recorded_and_refused(relays: list[Relay]) -> None:
    cap = start(relays, config("pop3", "capture"))
    client = connect(cap, POP3_GREETING)
    client.send(b"XCLIENT ADDR\r\nXCLIENT FORWARD=%%%\r\nXCLIENT X-NEW=1\r\nXCLIENT PORT=[UNAVAILABLE]\r\n")
    invalid = "-ERR Invalid parameters"
    assert [client.line() for _ in range(4)] == [invalid, invalid, "+OK Updated", invalid]
    unavailable = cap.wait_for("received", line="XCLIENT PORT=[UNAVAILABLE]")
    assert unavailable["xclient_error"] == "PORT cannot be [UNAVAILABLE]"
    assert "attribute=value" in cap.wait_for("received", line="XCLIENT ADDR")["xclient_error"]
    bad_forward = cap.wait_for("received", line="XCLIENT FORWARD=%%%")
    assert "base64" in bad_forward["forward_error"]
    assert bad_forward["xclient"] == [["FORWARD", "%%%"]]
    assert cap.wait_for("received", line="XCLIENT X-NEW=1")["xclient_unknown"] == ["X-NEW"]


def test_pop3_capture_without_xclient_and_accepting_logins(relays: list[Relay]) -> None:
    cap = start(relays, config("pop3", "capture", advertise=[], accept="login"))
    client = connect(cap, "+OK mailhops capture ready")
    client.send(b"CAPA\r\nXCLIENT ADDR=203.0.113.7\r\nUSER alice\r\nPASS secret\r\nSTAT\r\n")
    assert [client.line() for _ in range(7)] == [
        "+OK Capability list follows",
        "USER",
        "SASL PLAIN",
        "PIPELINING",
        "TOP",
        "UIDL",
        ".",
    ]
    assert client.line() == "+OK You are not from trusted IP - ignoring"
    assert [client.line() for _ in range(3)] == ["+OK", "+OK Logged in.", "+OK 0 0"]
    client.send(b"AUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\nQUIT\r\n")
    assert client.line() == "+ "
    assert client.line() == "+OK Logged in."
    assert client.line() == "+OK Logging out."
    assert client.at_eof()
    continuation = cap.wait_for("received", line="AGFsaWNlAHNlY3JldA==")
    assert (continuation["command"], continuation["continuation"]) == (None, True)
    assert cap.wait_for("auth", mechanism="PLAIN")["user"] == "alice"
    cap.wait_for("closed", conn=1)


# --- SMTP submission / LMTP capture ---------------------------------------------------------------------------


def test_submission_capture_records_dovecot_24_xclient_and_refuses_auth(relays: list[Relay]) -> None:
    cap = start(relays, config("submission", "capture"))
    client = connect(cap, SMTP_GREETING)
    client.send(b"EHLO proxyA.test\r\n")
    assert client.reply() == [
        "250-capture.test",
        "250-PIPELINING",
        "250-ENHANCEDSTATUSCODES",
        "250-8BITMIME",
        "250-AUTH PLAIN LOGIN",
        "250 XCLIENT ADDR PORT PROTO HELO LOGIN SESSION CLIENT-TRANSPORT TTL TIMEOUT DESTNAME FORWARD",
    ]
    client.send(SUBMISSION_D24.encode() + b"\r\n")
    assert client.reply() == [SMTP_GREETING]
    client.send(b"EHLO proxyA.test\r\nAUTH PLAIN Y2FwAGNhcABzZWNyZXQ=\r\n")
    assert client.reply()[-1].startswith("250 XCLIENT")
    assert client.reply() == [SMTP_REFUSED]
    record = cap.wait_for("received", command="XCLIENT")
    assert record["line"] == SUBMISSION_D24
    assert record["xclient"][-1] == ["FORWARD", "dGVuYW50PWFjbWU="]
    assert record["xclient_raw"][-1] == ["FORWARD", "dGVuYW50PWFjbWU+3D"]
    assert record["forward"] == [["tenant", "acme"]]
    assert record["pipelined"] is False
    auth = cap.wait_for("auth", conn=1)
    assert (auth["mechanism"], auth["user"], auth["authzid"], auth["accepted"]) == ("PLAIN", "cap", "cap", False)


def test_submission_capture_refuses_raw_equals_like_dovecot(relays: list[Relay]) -> None:
    cap = start(relays, config("submission", "capture"))
    client = connect(cap, SMTP_GREETING)
    client.send(
        b"XCLIENT FORWARD=dGVuYW50PWFjbWU=\r\nXCLIENT ADDR=IPV6:2001:db8::7 PORT=70000\r\n"
        b"XCLIENT ADDR=[UNAVAILABLE] NAME=[TEMPUNAVAIL] PORT=[unavailable]\r\nXCLIENT TTL=[UNAVAILABLE]\r\n"
    )
    assert client.reply()[0].startswith("501 5.5.4 Invalid parameter: XCLIENT FORWARD")
    assert client.reply()[0].startswith("501 5.5.4 Invalid parameter: PORT")
    assert client.reply() == [SMTP_GREETING]
    assert client.reply() == ["501 5.5.4 Invalid parameter: TTL cannot be [UNAVAILABLE]"]
    first = cap.wait_for("received", line="XCLIENT FORWARD=dGVuYW50PWFjbWU=")
    assert first["xclient_raw"] == [["FORWARD", "dGVuYW50PWFjbWU="]]
    assert "xclient" not in first
    assert first["pipelined"] is True


def test_submission_capture_with_postfix_list_or_none(relays: list[Relay]) -> None:
    postfix = start(relays, config("submission", "capture", advertise=POSTFIX_LIST))
    client = connect(postfix, SMTP_GREETING)
    client.send(b"EHLO x\r\n")
    assert client.reply()[-1] == "250 XCLIENT " + " ".join(POSTFIX_LIST)
    silent = start(relays, config("submission", "capture", name="none", advertise=[]))
    other = connect(silent, SMTP_GREETING)
    other.send(b"EHLO x\r\nXCLIENT ADDR=203.0.113.7\r\n")
    assert not any("XCLIENT" in line for line in other.reply())
    assert other.reply() == ["550 5.7.14 You are not from trusted IP"]
    assert silent.wait_for("received", command="XCLIENT")["xclient"] == [["ADDR", "203.0.113.7"]]


def test_submission_capture_accepts_a_pipelined_transaction(relays: list[Relay]) -> None:
    cap = start(relays, config("submission", "capture", accept="login"))
    client = connect(cap, SMTP_GREETING)
    client.send(b"EHLO c\r\nAUTH LOGIN\r\n")
    client.reply()
    assert client.reply() == ["334 VXNlcm5hbWU6"]
    client.send(b"YWxpY2U=\r\n")
    assert client.reply() == ["334 UGFzc3dvcmQ6"]
    client.send(b"c2VjcmV0\r\n")
    assert client.reply() == ["235 2.7.0 Logged in."]
    client.send(b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    assert [client.reply() for _ in range(3)] == [["250 2.1.0 Ok"], ["250 2.1.5 Ok"], ["354 OK"]]
    client.send(b"XCLIENT ADDR=1.2.3.4\r\nSubject: hi\r\n\r\n..dot\r\n.\r\nXCLIENT ADDR=1.2.3.4\r\nQUIT\r\n")
    assert client.reply() == ["250 2.0.0 Ok: queued by mailhops capture"]
    assert client.reply() == [SMTP_GREETING]
    assert client.reply() == ["221 2.0.0 Bye"]
    assert client.at_eof()
    message = cap.wait_for("message", conn=1)
    assert message["content"] == "XCLIENT ADDR=1.2.3.4\r\nSubject: hi\r\n\r\n.dot\r\n"
    assert (message["recipients"], message["size"], message["truncated"]) == (["<b@example.net>"], 43, False)
    assert cap.wait_for("auth", conn=1)["accepted"] is True
    assert cap.wait_for("received", command="MAIL")["pipelined"] is True
    assert cap.wait_for("received", command="DATA")["pipelined"] is False
    cap.wait_for("closed", conn=1)
    commands = [e["command"] for e in cap.events if e["event"] == "received"]
    assert commands == ["EHLO", "AUTH", None, None, "MAIL", "RCPT", "DATA", "XCLIENT", "QUIT"]


def test_submission_capture_refuses_xclient_in_a_transaction_and_aborted_auth(relays: list[Relay]) -> None:
    cap = start(relays, config("submission", "capture"))
    client = connect(cap, SMTP_GREETING)
    client.send(b"MAIL FROM:<>\r\nXCLIENT ADDR=203.0.113.7\r\nRSET\r\nDATA\r\nAUTH PLAIN\r\n*\r\nAUTH CRAM-MD5\r\n")
    assert [client.reply()[0] for _ in range(7)] == [
        "250 2.1.0 Ok",
        "503 5.5.0 XCLIENT not permitted during a mail transaction",
        "250 2.0.0 Ok",
        "554 5.5.0 No valid recipients",
        "334 ",
        "501 5.0.0 Authentication aborted",
        "504 5.5.4 Unsupported authentication mechanism",
    ]
    client.send(b"VRFY x\r\n\r\n")
    assert client.reply() == ["502 5.5.1 Unsupported command"]
    assert client.reply() == ["500 5.5.2 Invalid command syntax"]
    assert "parse_error" in cap.wait_for("received", line="")


def test_lmtp_capture_records_xclient_and_xrcptforward(relays: list[Relay]) -> None:
    cap = start(relays, config("lmtp", "capture"))
    client = connect(cap, LMTP_GREETING)
    client.send(b"LHLO proxyA.test\r\n")
    assert client.reply()[-2:] == [
        "250-XCLIENT ADDR PORT PROTO HELO LOGIN SESSION CLIENT-TRANSPORT TTL TIMEOUT DESTNAME",
        "250 XRCPTFORWARD",
    ]
    client.send(LMTP_D23.encode() + b"\r\n")
    assert client.reply() == [LMTP_GREETING]
    client.send(
        b"LHLO proxyA.test\r\nMAIL FROM:<s@example.test>\r\n"
        b"RCPT TO:<cap@example.test> XRCPTFORWARD=tenant+3Dacme\r\nRCPT TO:<two@example.test>\r\n"
        b"RCPT TO:<bad@example.test> XRCPTFORWARD=tenant=acme\r\nDATA\r\n"
    )
    client.reply()
    assert [client.reply()[0] for _ in range(5)] == [
        "250 2.1.0 Ok",
        "250 2.1.5 Ok",
        "250 2.1.5 Ok",
        "501 5.5.4 Invalid XRCPTFORWARD= parameter: XRCPTFORWARD value: invalid character '=' at offset 6 "
        "in xtext 'tenant=acme'",
        "354 OK",
    ]
    client.send(b"hello\r\n.\r\n")
    assert [client.reply() for _ in range(2)] == [
        ["250 2.0.0 <cap@example.test> mailhops capture saved"],
        ["250 2.0.0 <two@example.test> mailhops capture saved"],
    ]
    record = cap.wait_for("received", command="XCLIENT")
    assert record["xclient"][2] == ["SESSION", "abc123:P1"]
    rcpt = cap.wait_for("received", line="RCPT TO:<cap@example.test> XRCPTFORWARD=tenant+3Dacme")
    assert (rcpt["forward"], rcpt["pipelined"]) == ([["tenant", "acme"]], True)
    assert "forward" not in cap.wait_for("received", line="RCPT TO:<two@example.test>")
    assert "forward_error" in cap.wait_for("received", line="RCPT TO:<bad@example.test> XRCPTFORWARD=tenant=acme")


def test_lmtp_capture_without_xrcptforward(relays: list[Relay]) -> None:
    cap = start(relays, config("lmtp", "capture", xrcptforward=False, advertise=[]))
    client = connect(cap, LMTP_GREETING)
    client.send(b"LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@b> XRCPTFORWARD=k+3Dv\r\n")
    assert client.reply() == ["250-capture.test", "250-PIPELINING", "250-ENHANCEDSTATUSCODES", "250 8BITMIME"]
    client.reply()
    assert client.reply() == ["555 5.5.4 Unsupported RCPT parameter XRCPTFORWARD"]
    assert cap.wait_for("received", command="RCPT")["forward"] == [["k", "v"]]


def test_capture_line_too_long_is_refused(relays: list[Relay]) -> None:
    cap = start(relays, config("pop3", "capture"))
    client = connect(cap, POP3_GREETING)
    client.send(b"X" * 70000)
    assert client.line() == "-ERR Input buffer full, aborting"
    assert client.at_eof()
    assert "limit" in cap.wait_for("error", conn=1)["message"]


# --- inject --------------------------------------------------------------------------------------------------------


def test_pop3_inject_sends_raw_base64_forward_first(relays: list[Relay]) -> None:
    cap = start(relays, config("pop3", "capture"))
    xclient = [["ADDR", "203.0.113.7"], ["PORT", "51234"], ["SESSION", "abc123"], ["TTL", "5"]]
    front = start(relays, inject_config("pop3", cap.port, [*xclient, ["FORWARD", [["tenant", "acme"]]]]))
    client = connect(front, POP3_GREETING)
    client.send(b"USER alice\r\nPASS secret\r\nQUIT\r\n")
    assert [client.line() for _ in range(3)] == ["+OK", POP3_REFUSED, "+OK Logging out."]
    assert client.at_eof()
    line = "XCLIENT ADDR=203.0.113.7 PORT=51234 SESSION=abc123 TTL=5 FORWARD=dGVuYW50PWFjbWU="
    cap.wait_for("received", command="QUIT")
    lines = [e["line"] for e in cap.events if e["event"] == "received"]
    assert lines == [line, "USER alice", "PASS secret", "QUIT"]
    assert cap.wait_for("received", command="XCLIENT")["forward"] == [["tenant", "acme"]]
    assert front.wait_for("upstream_greeting", conn=1)["line"] == POP3_GREETING
    injected = front.wait_for("injected", conn=1)
    assert (injected["line"], injected["reply"]) == (line, ["+OK Updated"])
    assert not [e for e in front.events if e["event"] == "error"]
    front.wait_for("closed", conn=1)


def test_pop3_inject_to_a_hop_without_xclient_records_an_error(relays: list[Relay]) -> None:
    cap = start(relays, config("pop3", "capture", advertise=[]))
    front = start(relays, inject_config("pop3", cap.port, [["ADDR", "203.0.113.7"]]))
    connect(front, "+OK mailhops capture ready")
    assert "[XCLIENT]" in front.wait_for("error", conn=1)["message"]
    assert front.wait_for("injected", conn=1)["reply"] == ["+OK You are not from trusted IP - ignoring"]
    assert cap.wait_for("received", command="XCLIENT")["line"] == "XCLIENT ADDR=203.0.113.7"


def test_submission_inject_sends_xtext_and_gives_the_client_the_fresh_greeting(relays: list[Relay]) -> None:
    cap = start(relays, config("submission", "capture"))
    xclient = [
        ["HELO", "orig.example"],
        ["PROTO", "ESMTP"],
        ["TTL", "5"],
        ["PORT", "51234"],
        ["ADDR", "IPV6:2001:db8::7"],
        ["SESSION", "abc123"],
        ["FORWARD", [["tenant", "acme"]]],
    ]
    front = start(relays, inject_config("submission", cap.port, xclient))
    client = connect(front, SMTP_GREETING)
    client.send(b"EHLO client.example\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nQUIT\r\n")
    assert client.reply()[0] == "250-capture.test"
    assert client.reply() == [SMTP_REFUSED]
    assert client.reply() == ["221 2.0.0 Bye"]
    line = (
        "XCLIENT HELO=orig.example PROTO=ESMTP TTL=5 PORT=51234 ADDR=IPV6:2001:db8::7 SESSION=abc123 "
        "FORWARD=dGVuYW50PWFjbWU+3D"
    )
    cap.wait_for("received", command="QUIT")
    lines = [e["line"] for e in cap.events if e["event"] == "received"]
    assert lines[:3] == ["EHLO relay.mailhops.test", line, "EHLO client.example"]
    record = cap.wait_for("received", command="XCLIENT")
    assert record["forward"] == [["tenant", "acme"]]
    assert record["xclient"][4] == ["ADDR", "IPV6:2001:db8::7"]
    assert front.wait_for("upstream_greeting", conn=1)["lines"] == [SMTP_GREETING]
    assert front.wait_for("upstream_ehlo", conn=1)["xclient"] == list(PROTOCOLS["submission"].capture_advertise)
    injected = front.wait_for("injected", conn=1)
    assert (injected["line"], injected["reply"]) == (line, [SMTP_GREETING])
    assert not [e for e in front.events if e["event"] == "error"]


def test_submission_inject_against_postfix_list_reports_unadvertised_attributes(relays: list[Relay]) -> None:
    cap = start(relays, config("submission", "capture", advertise=POSTFIX_LIST))
    front = start(relays, inject_config("submission", cap.port, [["TTL", "4"], ["PORT", "1"], ["SESSION", "s"]]))
    connect(front, SMTP_GREETING)
    message = front.wait_for("error", conn=1)["message"]
    assert "XCLIENT TTL SESSION" in message
    assert front.wait_for("injected", conn=1)["reply"] == [SMTP_GREETING]
    assert cap.wait_for("received", command="XCLIENT")["line"] == "XCLIENT TTL=4 PORT=1 SESSION=s"


def test_submission_inject_when_xclient_is_refused_gives_the_first_greeting(relays: list[Relay]) -> None:
    cap = start(relays, config("submission", "capture", advertise=[]))
    front = start(relays, inject_config("submission", cap.port, [["ADDR", "203.0.113.7"]]))
    client = connect(front, SMTP_GREETING)
    client.send(b"NOOP\r\n")
    assert client.reply() == ["250 2.0.0 Ok"]
    front.wait_for("error", message="upstream did not advertise XCLIENT; sending it anyway")
    front.wait_for("error", message="upstream refused XCLIENT: 550 5.7.14 You are not from trusted IP")
    assert cap.wait_for("received", command="NOOP")["conn"] == 1


def test_lmtp_inject_sends_bare_ipv6_and_adds_xrcptforward(relays: list[Relay]) -> None:
    cap = start(relays, config("lmtp", "capture"))
    xclient = [["HELO", "orig.example"], ["PROTO", "LMTP"], ["SESSION", "abc123:P1"], ["ADDR", "2001:db8::7"]]
    front = start(relays, inject_config("lmtp", cap.port, xclient, rcpt_forward=[["tenant", "acme"], ["k", "a b"]]))
    client = connect(front, LMTP_GREETING)
    client.send(b"LHLO proxy.test\r\nMAIL FROM:<s@x>\r\nRCPT TO:<cap@example.test>\r\nDATA\r\n")
    assert client.reply()[-1] == "250 XRCPTFORWARD"
    assert [client.reply()[0] for _ in range(3)] == ["250 2.1.0 Ok", "250 2.1.5 Ok", "354 OK"]
    client.send(b"RCPT TO:<in@body>\r\n.\r\n")
    assert client.reply() == ["250 2.0.0 <cap@example.test> mailhops capture saved"]
    line = "XCLIENT HELO=orig.example PROTO=LMTP SESSION=abc123:P1 ADDR=2001:db8::7"
    assert cap.wait_for("received", command="XCLIENT")["line"] == line
    assert cap.wait_for("received", line="LHLO relay.mailhops.test")["conn"] == 1
    rcpt = cap.wait_for("received", command="RCPT")
    assert rcpt["line"] == "RCPT TO:<cap@example.test> XRCPTFORWARD=tenant+3Dacme+09k+3Da+20b"
    assert rcpt["forward"] == [["tenant", "acme"], ["k", "a b"]]
    assert cap.wait_for("message", conn=1)["content"] == "RCPT TO:<in@body>\r\n"
    rewritten = front.wait_for("rewritten", conn=1)
    assert rewritten["original"] == "RCPT TO:<cap@example.test>"
    assert rewritten["line"] == rcpt["line"]


@pytest.mark.parametrize(
    ("protocol", "refusal"),
    [
        ("pop3", "-ERR [SYS/TEMP] mailhops relay: upstream unavailable"),
        ("submission", "421 4.3.0 mailhops relay: upstream unavailable"),
        ("lmtp", "421 4.3.0 mailhops relay: upstream unavailable"),
    ],
)
def test_inject_upstream_refused(relays: list[Relay], protocol: str, refusal: str) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
        front = start(relays, inject_config(protocol, closed.getsockname()[1], [["ADDR", "203.0.113.7"]]))
        client = connect(front, refusal)
        assert client.at_eof()
        assert "cannot connect to upstream" in front.wait_for("error", conn=1)["message"]


@pytest.mark.parametrize(
    ("protocol", "greeting"),
    [("pop3", b"-ERR go away\r\n"), ("submission", b"554-no\r\n554 5.3.2 go away\r\n")],
)
def test_inject_passes_an_error_greeting_through(relays: list[Relay], protocol: str, greeting: bytes) -> None:
    with socket.create_server(("127.0.0.1", 0)) as fake:
        front = start(relays, inject_config(protocol, fake.getsockname()[1], [["ADDR", "203.0.113.7"]]))
        client = LineClient(front.port)
        upstream, _ = fake.accept()
        with upstream:
            upstream.sendall(greeting)
            assert client.line() == greeting.decode().split("\r\n")[0]
            assert "greeted with" in front.wait_for("error", conn=1)["message"]
            front.wait_for("closed", conn=1)


def test_smtp_inject_upstream_that_never_answers_ehlo_times_out(relays: list[Relay]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as fake:
        front = start(relays, inject_config("lmtp", fake.getsockname()[1], [["ADDR", "1.2.3.4"]], timeout=0.3))
        client = LineClient(front.port)
        upstream, _ = fake.accept()
        with upstream:
            upstream.sendall(b"220 fake LMTP\r\n")
            assert client.line() == "421 4.3.0 mailhops relay: upstream unavailable"
            message = front.wait_for("error", conn=1)["message"]
            assert "timed out" in message
            assert "LHLO" in message


# --- configuration ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (inject_config("pop3", 110, []), "xclient"),
        ({**inject_config("pop3", 110, []), "xclient": None}, "xclient"),
        (inject_config("pop3", 110, [["ADDR", "1 2"]]), "SP"),
        (inject_config("submission", 587, [["SESSION", "a\r\nb"]]), "CR"),
        (inject_config("submission", 587, [["A B", "x"]]), "name"),
        (inject_config("submission", 587, [["PORT", 1]]), "string"),
        (inject_config("submission", 587, [["FORWARD", [["a=b", "v"]]]]), "FORWARD"),
        (inject_config("submission", 587, [["FORWARD", [["k"]]]]), "FORWARD"),
        (inject_config("submission", 587, [["ADDR", "x"]], rcpt_forward=[["k", "v"]]), "lmtp"),
        (inject_config("lmtp", 24, [["ADDR", "x"]], rcpt_forward=[["=", "v"]]), "rcpt_forward"),
        (inject_config("lmtp", 24, [["ADDR", "x"]], advertise=[]), "capture mode"),
        (inject_config("lmtp", 24, [["ADDR", "x"]], id=[]), "imap"),
        (config("imap", "inject", upstream={"host": "h", "port": 1}, xclient=[["ADDR", "x"]]), "xclient"),
        (config("imap", "capture", accept="login"), "accept"),
        (config("pop3", "capture", xclient=[["ADDR", "x"]]), "inject mode"),
        (config("pop3", "capture", accept="yes"), "accept"),
        (config("pop3", "capture", xrcptforward=False), "lmtp"),
        (config("lmtp", "capture", xrcptforward="no"), "xrcptforward"),
        (config("submission", "capture", advertise="ADDR PORT"), "advertise"),
        (config("submission", "capture", advertise=["ADDR PORT"]), "advertise"),
    ],
)
def test_bad_config_exits_2_with_one_line(settings: dict[str, object], message: str) -> None:
    result = run_with_config(json.dumps(settings))
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr


def test_load_config_defaults_and_forward_lists() -> None:
    capture = load_config(json.dumps(config("lmtp", "capture")), protocols=HANDLERS)
    assert capture.advertise == PROTOCOLS["lmtp"].capture_advertise
    assert (capture.accept, capture.xrcptforward) == ("refuse", True)
    assert "FORWARD" in load_config(json.dumps(config("submission", "capture")), protocols=HANDLERS).advertise
    settings = inject_config("submission", 587, [["FORWARD", [["tenant", "acme"]]], ["ADDR", "1.2.3.4"]])
    inject = load_config(json.dumps(settings), protocols=HANDLERS)
    assert inject.xclient == (("FORWARD", "dGVuYW50PWFjbWU="), ("ADDR", "1.2.3.4"))
    lmtp = inject_config("lmtp", 24, [["ADDR", "1.2.3.4"]], rcpt_forward=[["tenant", "acme"]])
    assert load_config(json.dumps(lmtp), protocols=HANDLERS).rcpt_forward == (("tenant", "acme"),)
