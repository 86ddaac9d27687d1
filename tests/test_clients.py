"""The client drivers against a scripted fake server on the loopback, and what they put on the wire for XCLIENT.

The fake server is a unit-test peer, not a mail server: it waits for a line starting with each script step's
prefix and answers with canned lines, so these tests pin the transcript (`replies`, the keys and values the
scenarios' expectations read) for given server replies."""

from __future__ import annotations

import ast
import re
import socket
import socketserver
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.drive import run_session, xclient_line
from harness.drive.conversation import Conversation
from harness.load.scenario import ClientSession
from harness.observe.events import ClientTranscript
from harness.protocol.table import NAMES, ROWS
from harness.protocol.xclient import encode_rcpt_forward

DRIVE = Path(__file__).resolve().parent.parent / "harness" / "drive"
TIMEOUT_S = 5.0
HANG_UP = "<hang up>"
"""In an answer: close the connection instead of sending more."""
SECONDS = re.compile(r"[0-9]+\.[0-9]{2}\Z")

Step = tuple[str | None, Sequence[str]]
"""A prefix of the line the server waits for (None: at connect), and the lines it answers."""


# --- XCLIENT lines -------------------------------------------------------------------------------------------


def test_pop3_forward_is_plain_base64() -> None:
    line = xclient_line({"ADDR": "203.0.113.7", "PORT": 51234, "FORWARD": {"tenant": "acme"}}, "pop3")
    assert line == "XCLIENT ADDR=203.0.113.7 PORT=51234 FORWARD=dGVuYW50PWFjbWU="


def test_smtp_values_are_xtext_and_names_upper_case() -> None:
    line = xclient_line({"addr": "IPV6:2001:db8::7", "forward": {"tenant": "acme"}}, "submission")
    assert line == "XCLIENT ADDR=IPV6:2001:db8::7 FORWARD=dGVuYW50PWFjbWU+3D"
    assert xclient_line({"NAME": "a+b"}, "smtp") == "XCLIENT NAME=a+2Bb"
    assert xclient_line({"NAME": "a+b"}, "lmtp") == "XCLIENT NAME=a+2Bb"


def test_forward_given_as_a_string_is_sent_as_given() -> None:
    assert xclient_line({"FORWARD": "dGVuYW50PWFjbWU="}, "pop3") == "XCLIENT FORWARD=dGVuYW50PWFjbWU="


def test_imap_has_no_xclient() -> None:
    with pytest.raises(ValueError, match="no XCLIENT"):
        xclient_line({"ADDR": "203.0.113.7"}, "imap")


# --- the fake server -----------------------------------------------------------------------------------------


@dataclass
class FakeServer:
    """A one-connection scripted peer; `received` is every line the client sent, in order."""

    script: Sequence[Step]
    received: list[str] = field(default_factory=list)
    port: int = 0


class _Handler(socketserver.StreamRequestHandler):
    timeout = TIMEOUT_S  # StreamRequestHandler puts it on the socket: every read and write has it
    server: _Server

    def handle(self) -> None:
        for wait_for, answer in self.server.fake.script:
            if wait_for is not None:
                self._read_until(wait_for)
            for line in answer:
                if line == HANG_UP:
                    return
                self.wfile.write(line.encode() + b"\r\n")

    def _read_until(self, prefix: str) -> None:
        while True:
            raw = self.rfile.readline()
            if not raw:
                raise ConnectionError(f"the client hung up while the server waited for {prefix!r}")
            line = raw.decode().rstrip("\r\n")
            self.server.fake.received.append(line)
            if line.startswith(prefix):
                return


class _Server(socketserver.TCPServer):
    allow_reuse_address = True

    def __init__(self, fake: FakeServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


@pytest.fixture
def serve() -> Iterator[Any]:
    """`serve(script)` starts a fake server on 127.0.0.1 and returns it; all are shut down after the test."""
    servers: list[_Server] = []

    def start(script: Sequence[Step]) -> FakeServer:
        fake = FakeServer(script)
        server = _Server(fake)
        fake.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return fake

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def drive(fake: FakeServer, session: Mapping[str, Any]) -> ClientTranscript:
    return run_session(0, ClientSession.model_validate(session), "127.0.0.1", timeout=TIMEOUT_S, port=fake.port)


def timings(replies: Mapping[str, str]) -> dict[str, str]:
    """The replies without the `*_seconds` keys, after checking those hold seconds."""
    for key, value in replies.items():
        if key.endswith("_seconds"):
            assert SECONDS.match(value), (key, value)
    return {key: value for key, value in replies.items() if not key.endswith("_seconds")}


def seconds_keys(replies: Mapping[str, str]) -> set[str]:
    return {key for key in replies if key.endswith("_seconds")}


# --- IMAP ----------------------------------------------------------------------------------------------------

IMAP_GREETING = "* OK [CAPABILITY IMAP4rev1 ID LOGIN-REFERRALS] Dovecot ready."


def test_imap_session_records_each_tagged_reply(serve: Any) -> None:
    fake = serve([
        (None, [IMAP_GREETING]),
        ("c1 ID", ['* ID ("name" "Dovecot")', "c1 OK ID completed."]),
        ("c2 LOGIN", ["* CAPABILITY IMAP4rev1", "c2 OK [CAPABILITY IMAP4rev1] Logged in"]),
        ("c3 LOGOUT", ["* BYE Logging out", "c3 OK Logout completed."]),
    ])
    transcript = drive(fake, {"protocol": "imap", "to": "front", "id": {"x-originating-ip": "203.0.113.7"},
                              "login": {"user": "alice", "password": "secret"}})
    assert transcript.error is None
    assert timings(transcript.replies) == {
        "greeting": "OK", "greeting_reply": IMAP_GREETING,
        "id": "OK", "id_reply": "OK ID completed.",
        "login": "OK", "login_reply": "OK [CAPABILITY IMAP4rev1] Logged in",
        "logout": "OK", "logout_reply": "OK Logout completed.",
    }
    assert seconds_keys(transcript.replies) == {"id_seconds", "login_seconds", "logout_seconds", "session_seconds"}
    assert fake.received == ['c1 ID ("x-originating-ip" "203.0.113.7")', 'c2 LOGIN "alice" "secret"', "c3 LOGOUT"]
    assert transcript.lines == (
        f"S: {IMAP_GREETING}",
        'C: c1 ID ("x-originating-ip" "203.0.113.7")', 'S: * ID ("name" "Dovecot")', "S: c1 OK ID completed.",
        'C: c2 LOGIN "alice" <password>', "S: * CAPABILITY IMAP4rev1", "S: c2 OK [CAPABILITY IMAP4rev1] Logged in",
        "C: c3 LOGOUT", "S: * BYE Logging out", "S: c3 OK Logout completed.",
    )


def test_imap_bye_then_close_is_recorded_as_the_tagged_bye(serve: Any) -> None:
    fake = serve([
        (None, [IMAP_GREETING]),
        ("c2 LOGIN", ["* BYE Disconnected: Too many invalid commands.", HANG_UP]),
    ])
    transcript = drive(fake, {"protocol": "imap", "to": "front"})
    assert timings(transcript.replies) == {
        "greeting": "OK", "greeting_reply": IMAP_GREETING,
        "login": "BYE", "login_reply": "BYE Disconnected: Too many invalid commands.",
    }
    assert seconds_keys(transcript.replies) == {"login_seconds", "session_seconds"}
    # LOGOUT then meets the closed connection: an error, and no logout step.
    assert transcript.error is not None
    assert transcript.error.split(":")[0] in {"ConnectionError", "ConnectionResetError", "BrokenPipeError"}


def test_imap_greeting_bye_and_a_close_without_bye(serve: Any) -> None:
    fake = serve([(None, ["* BYE Too many connections", HANG_UP])])
    transcript = drive(fake, {"protocol": "imap", "to": "front", "login": None})
    assert timings(transcript.replies) == {"greeting": "BYE", "greeting_reply": "* BYE Too many connections"}
    assert transcript.error is not None


# --- POP3 ----------------------------------------------------------------------------------------------------


def test_pop3_session_records_each_status_line(serve: Any) -> None:
    fake = serve([
        (None, ["+OK [XCLIENT] Dovecot ready."]),
        ("XCLIENT", ["+OK"]),
        ("USER", ["+OK"]),
        ("PASS", ["-ERR [AUTH] Authentication failed."]),
        ("QUIT", ["+OK Logging out."]),
    ])
    transcript = drive(fake, {"protocol": "pop3", "to": "front", "xclient": {"ADDR": "203.0.113.7", "TTL": 5},
                              "login": {"user": "alice", "password": "secret"}})
    assert transcript.error is None
    assert timings(transcript.replies) == {
        "greeting": "+OK", "greeting_reply": "+OK [XCLIENT] Dovecot ready.",
        "xclient": "+OK", "xclient_reply": "+OK",
        "user": "+OK", "user_reply": "+OK",
        "login": "-ERR", "login_reply": "-ERR [AUTH] Authentication failed.",
        "logout": "+OK", "logout_reply": "+OK Logging out.",
    }
    assert seconds_keys(transcript.replies) == {"xclient_seconds", "user_seconds", "login_seconds",
                                                "logout_seconds", "session_seconds"}
    assert fake.received == ["XCLIENT ADDR=203.0.113.7 TTL=5", "USER alice", "PASS secret", "QUIT"]
    assert "C: PASS <password>" in transcript.lines


# --- submission ----------------------------------------------------------------------------------------------


def test_submission_session_with_login_and_mail(serve: Any) -> None:
    fake = serve([
        (None, ["220 submit.example Dovecot ready."]),
        ("EHLO", ["250-submit.example", "250-8BITMIME", "250-AUTH PLAIN", "250 XCLIENT ADDR PORT PROTO FORWARD"]),
        ("XCLIENT", ["220 submit.example Dovecot ready."]),
        ("EHLO", ["250-submit.example", "250 AUTH PLAIN"]),
        ("AUTH PLAIN", ["235 2.7.0 Logged in."]),
        ("MAIL FROM", ["250 2.1.0 Sender OK"]),
        ("RCPT TO", ["250 2.1.5 Recipient OK"]),
        ("DATA", ["354 OK"]),
        (".", ["250 2.0.0 Ok: queued as 4Xz"]),
        ("QUIT", ["221 2.0.0 Bye"]),
    ])
    transcript = drive(fake, {"protocol": "submission", "to": "front", "xclient": {"ADDR": "203.0.113.7"},
                              "login": {"user": "alice", "password": "secret"},
                              "mail": {"from": "alice@example.test", "to": ["bob@example.net"]}})
    assert transcript.error is None
    assert timings(transcript.replies) == {
        "greeting": "220", "greeting_reply": "220 submit.example Dovecot ready.",
        "ehlo": "250", "ehlo_reply": "250 XCLIENT ADDR PORT PROTO FORWARD",
        "ehlo_xclient": "ADDR PORT PROTO FORWARD", "ehlo_keywords": "8BITMIME AUTH XCLIENT",
        "xclient": "220", "xclient_reply": "220 submit.example Dovecot ready.",
        "login": "235", "login_reply": "235 2.7.0 Logged in.",
        "mail": "250", "mail_reply": "250 2.1.0 Sender OK",
        "rcpt": "250", "rcpt_reply": "250 2.1.5 Recipient OK",
        "data": "250", "data_reply": "250 2.0.0 Ok: queued as 4Xz",
        "logout": "221", "logout_reply": "221 2.0.0 Bye",
    }
    assert fake.received == [
        "EHLO client.example", "XCLIENT ADDR=203.0.113.7", "EHLO client.example",
        "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.net>", "DATA",
        "From: <alice@example.test>", "Subject: mailhops", "", "mailhops test message", ".", "QUIT",
    ]
    assert "C: AUTH PLAIN <credentials>" in transcript.lines


def test_submission_without_xclient_advertised_and_a_refused_sender(serve: Any) -> None:
    fake = serve([
        (None, ["220 submit.example ESMTP"]),
        ("EHLO", ["250-submit.example", "250 8BITMIME"]),
        ("XCLIENT", ["550 5.7.0 Not trusted"]),
        ("MAIL FROM", ["530 5.7.0 Authentication required"]),
        ("QUIT", ["221 2.0.0 Bye"]),
    ])
    transcript = drive(fake, {"protocol": "submission", "to": "front", "xclient": {"ADDR": "203.0.113.7"},
                              "mail": {}})
    assert timings(transcript.replies) == {
        "greeting": "220", "greeting_reply": "220 submit.example ESMTP",
        "ehlo": "250", "ehlo_reply": "250 8BITMIME", "ehlo_keywords": "8BITMIME",
        "xclient": "550", "xclient_reply": "550 5.7.0 Not trusted",
        "mail": "530", "mail_reply": "530 5.7.0 Authentication required",
        "logout": "221", "logout_reply": "221 2.0.0 Bye",
    }
    assert "ehlo_xclient" not in transcript.replies
    # no EHLO again after a refused XCLIENT, no RCPT after a refused MAIL
    assert fake.received == ["EHLO client.example", "XCLIENT ADDR=203.0.113.7", "MAIL FROM:<alice@example.test>",
                             "QUIT"]


# --- LMTP ----------------------------------------------------------------------------------------------------

LHLO_REPLY = ["250-lmtp.example", "250-8BITMIME", "250-XCLIENT ADDR PORT PROTO HELO LOGIN SESSION TTL TIMEOUT",
              "250 XRCPTFORWARD"]


def test_lmtp_records_one_data_reply_per_accepted_recipient(serve: Any) -> None:
    fake = serve([
        (None, ["220 lmtp.example Dovecot ready."]),
        ("LHLO", LHLO_REPLY),
        ("XCLIENT", ["220 lmtp.example Dovecot ready."]),
        ("LHLO", LHLO_REPLY),
        ("MAIL FROM", ["250 2.1.0 OK"]),
        ("RCPT TO:<alice", ["250 2.1.5 OK"]),
        ("RCPT TO:<bob", ["250 2.1.5 OK"]),
        ("DATA", ["354 OK"]),
        (".", ["250 2.0.0 <alice@example.test> Saved", "250 2.0.0 <bob@example.test> Saved"]),
        ("QUIT", ["221 2.0.0 Bye"]),
    ])
    transcript = drive(fake, {"protocol": "lmtp", "to": "backend", "helo": "front.example",
                              "xclient": {"ADDR": "203.0.113.7", "SESSION": "s1"},
                              "mail": {"from": "sender@example.net", "to": ["alice@example.test", "bob@example.test"],
                                       "forward": {"tenant": "acme"}}})
    assert transcript.error is None
    assert timings(transcript.replies) == {
        "greeting": "220", "greeting_reply": "220 lmtp.example Dovecot ready.",
        "ehlo": "250", "ehlo_reply": "250 XRCPTFORWARD",
        "ehlo_xclient": "ADDR PORT PROTO HELO LOGIN SESSION TTL TIMEOUT",
        "ehlo_keywords": "8BITMIME XCLIENT XRCPTFORWARD",
        "xclient": "220", "xclient_reply": "220 lmtp.example Dovecot ready.",
        "mail": "250", "mail_reply": "250 2.1.0 OK",
        "rcpt": "250", "rcpt_reply": "250 2.1.5 OK",
        "data": "250", "data_reply": "250 2.0.0 <bob@example.test> Saved",
        "logout": "221", "logout_reply": "221 2.0.0 Bye",
    }
    assert seconds_keys(transcript.replies) == {f"{step}_seconds" for step in
                                                ("ehlo", "xclient", "mail", "rcpt", "data", "logout", "session")}
    forward = encode_rcpt_forward([("tenant", "acme")])
    assert fake.received[:6] == [
        "LHLO front.example", "XCLIENT ADDR=203.0.113.7 SESSION=s1", "LHLO front.example",
        "MAIL FROM:<sender@example.net>", f"RCPT TO:<alice@example.test> XRCPTFORWARD={forward}",
        f"RCPT TO:<bob@example.test> XRCPTFORWARD={forward}",
    ]
    assert fake.received[-1] == "QUIT"
    assert transcript.lines.count("S: 250 2.0.0 <alice@example.test> Saved") == 1


def test_lmtp_with_no_recipient_accepted_sends_no_data(serve: Any) -> None:
    fake = serve([
        (None, ["220 lmtp.example Dovecot ready."]),
        ("LHLO", ["250-lmtp.example", "250 XCLIENT"]),
        ("MAIL FROM", ["250 2.1.0 OK"]),
        ("RCPT TO", ["550 5.1.1 User doesn't exist"]),
        ("QUIT", ["221 2.0.0 Bye"]),
    ])
    transcript = drive(fake, {"protocol": "lmtp", "to": "backend", "mail": {}})
    assert timings(transcript.replies)["ehlo_xclient"] == ""
    assert transcript.replies["rcpt"] == "550"
    assert "data" not in transcript.replies
    assert fake.received == ["LHLO client.example", "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.net>",
                             "QUIT"]


# --- the shape of harness/drive -----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ROWS, ids=lambda protocol: protocol.name)
def test_every_protocol_row_names_a_driver(protocol: Any) -> None:
    assert callable(protocol.driver_module().drive)


def test_drive_names_no_protocol_and_keeps_no_driver_table() -> None:
    """A protocol is a row of the table: the drivers read its fields, never its name."""
    for path in DRIVE.glob("*.py"):
        tree = ast.parse(path.read_text())
        literals = {node.value.lower() for node in ast.walk(tree)
                    if isinstance(node, ast.Constant) and isinstance(node.value, str)}
        assert not literals & set(NAMES), path
        names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        assert "DRIVERS" not in names, path


def test_a_multi_line_greeting_is_read_whole(serve: Any) -> None:
    fake = serve([
        (None, ["220-mx.example ESMTP", "220 mx.example welcome"]),
        ("EHLO", ["250-mx.example", "250 XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT"]),
        ("QUIT", ["221 2.0.0 Bye"]),
    ])
    transcript = drive(fake, {"protocol": "smtp", "to": "mx"})
    assert timings(transcript.replies) == {
        "greeting": "220", "greeting_reply": "220 mx.example welcome",
        "ehlo": "250", "ehlo_reply": "250 XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT",
        "ehlo_xclient": "NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT", "ehlo_keywords": "XCLIENT",
        "logout": "221", "logout_reply": "221 2.0.0 Bye",
    }


# --- the close after the logout ------------------------------------------------------------------------------


def test_the_client_reads_until_the_server_closes_and_records_what_came() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b"* BYE late words\r\n")
        theirs.close()
        conversation = Conversation(ours)
        assert conversation.until_closed(timeout=TIMEOUT_S)
        assert conversation.lines == ["S: * BYE late words"]


def test_a_server_that_keeps_the_connection_open_is_left_after_the_wait() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not Conversation(ours).until_closed(timeout=0.2)

