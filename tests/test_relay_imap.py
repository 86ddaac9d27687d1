"""The relay as a real subprocess on 127.0.0.1, driven with sockets (no Docker)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.protocol.imap import parse_command
from harness.relay.config import ConfigError, Endpoint, load_config
from harness.relay.imap import capture_replies
from harness.relay.protocols import HANDLERS
from tests.relay_support import D23_WIRE, GREETING, TIMEOUT, Client, Relay, run_with_config

REFUSED = "NO [AUTHENTICATIONFAILED] mailhops capture refuses every login"
D24_ID = (
    'I ID ("x-multiplex" "0" "x-session-id" "2GKgkw5hsJcK5wcK" '
    '"x-originating-ip" "10.231.7.10" "x-originating-port" "38832" '
    '"x-connected-ip" "10.231.7.20" "x-connected-port" "143" "x-proxy-ttl" "6" '
    '"x-client-transport" "insecure")'
)


def capture_config(name: str = "cap", **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "protocol": "imap",
        "mode": "capture",
        "listen": {"host": "127.0.0.1", "port": 0},
        "timeout": TIMEOUT,
        **extra,
    }


def inject_config(upstream_port: int, **extra: object) -> dict[str, object]:
    return {
        "name": "front",
        "protocol": "imap",
        "mode": "inject",
        "listen": {"host": "127.0.0.1", "port": 0},
        "upstream": {"host": "127.0.0.1", "port": upstream_port},
        "id": [["x-originating-ip", "203.0.113.7"], ["x-proxy-ttl", "5"], ["x-nil", None]],
        "timeout": TIMEOUT,
        **extra,
    }


@pytest.fixture
def capture() -> Iterator[Relay]:
    relay = Relay(capture_config())
    yield relay
    relay.stop()


@pytest.fixture
def client(capture: Relay) -> Iterator[Client]:
    connection = Client(capture.port)
    assert connection.line() == GREETING
    yield connection
    connection.close()


# --- capture ------------------------------------------------------------------------


def test_ready_reports_the_bound_port(capture: Relay) -> None:
    assert capture.port > 0
    assert capture.events[0]["relay"] == "cap"


def test_capture_records_dovecot_23_id_pipelined_with_login(capture: Relay, client: Client) -> None:
    client.send(D23_WIRE)
    assert client.until_tagged("I") == ["* ID NIL", "I OK ID completed."]
    assert client.until_tagged("L") == [f"L {REFUSED}"]
    record = capture.wait_for("received", command="ID")
    assert record["line"] == D23_WIRE.split(b"\r\n")[0].decode()
    assert (record["conn"], record["tag"], record["pipelined"]) == (1, "I", True)
    assert record["peer"] == capture.wait_for("connect", conn=1)["peer"]
    assert record["id"] == [
        ["x-session-id", "abc123"],
        ["x-originating-ip", "203.0.113.7"],
        ["x-originating-port", "51234"],
        ["x-connected-ip", "10.231.7.20"],
        ["x-connected-port", "143"],
        ["x-proxy-ttl", "4"],
        ["x-forward-tenant", "acme"],
    ]
    login = capture.wait_for("received", command="LOGIN")
    assert (login["line"], login["pipelined"]) == ('L LOGIN "alice" "secret"', False)
    assert "id" not in login


def test_capture_records_dovecot_24_id(capture: Relay, client: Client) -> None:
    client.send(D24_ID.encode() + b"\r\n")
    client.until_tagged("I")
    record = capture.wait_for("received", command="ID")
    assert record["line"] == D24_ID
    assert record["id"][0] == ["x-multiplex", "0"]
    assert record["id"][-1] == ["x-client-transport", "insecure"]
    assert record["pipelined"] is False


def test_capture_commands_sent_one_by_one_are_not_pipelined(capture: Relay, client: Client) -> None:
    client.send(b"a1 ID NIL\r\n")
    client.until_tagged("a1")
    client.send(b"a2 NOOP\r\n")
    assert client.until_tagged("a2") == ["a2 OK NOOP completed."]
    assert capture.wait_for("received", tag="a1")["pipelined"] is False
    assert capture.wait_for("received", tag="a2")["pipelined"] is False
    assert capture.wait_for("received", tag="a1")["id"] == []


def test_capture_nil_values_and_unparsable_id(capture: Relay, client: Client) -> None:
    client.send(b'a1 ID ("name" NIL)\r\na2 ID ("odd")\r\n')
    assert client.until_tagged("a1") == ["* ID NIL", "a1 OK ID completed."]
    assert client.until_tagged("a2") == ["* ID NIL", "a2 OK ID completed."]
    assert capture.wait_for("received", tag="a1")["id"] == [["name", None]]
    broken = capture.wait_for("received", tag="a2")
    assert "odd number" in broken["id_error"]
    assert "id" not in broken


def test_capture_synchronizing_literal_gets_continuation(capture: Relay, client: Client) -> None:
    client.send(b"a1 LOGIN {5}\r\n")
    assert client.line() == "+ OK"
    client.send(b"alice {6}\r\n")
    assert client.line() == "+ OK"
    client.send(b"se\r\nrt\r\n")
    assert client.until_tagged("a1") == [f"a1 {REFUSED}"]
    record = capture.wait_for("received", tag="a1")
    assert record["line"] == "a1 LOGIN {5}\r\nalice {6}\r\nse\r\nrt"
    assert record["command"] == "LOGIN"


def test_capture_literal_plus_in_id(capture: Relay, client: Client) -> None:
    client.send(b'a1 ID ({12+}\r\nx-session-id {3+}\r\ns 1 "k" "v")\r\n')
    assert client.until_tagged("a1")[-1] == "a1 OK ID completed."
    record = capture.wait_for("received", tag="a1")
    assert record["id"] == [["x-session-id", "s 1"], ["k", "v"]]


def test_capture_answers_other_commands_and_logout_closes(capture: Relay, client: Client) -> None:
    client.send(b"a1 CAPABILITY\r\na2 AUTHENTICATE PLAIN\r\na3 SELECT INBOX\r\n")
    assert client.until_tagged("a1") == [
        "* CAPABILITY IMAP4rev1 ID LITERAL+ AUTH=PLAIN",
        "a1 OK CAPABILITY completed.",
    ]
    assert client.until_tagged("a2") == [f"a2 {REFUSED}"]
    assert client.until_tagged("a3") == ["a3 BAD unknown command"]
    client.send(b"a4 LOGOUT\r\n")
    assert client.until_tagged("a4") == ["* BYE mailhops capture logging out", "a4 OK LOGOUT completed."]
    assert client.at_eof()
    capture.wait_for("closed", conn=1)


def test_capture_numbers_concurrent_connections(capture: Relay) -> None:
    clients = [Client(capture.port) for _ in range(3)]
    try:
        for number, each in enumerate(clients, start=1):
            assert each.line() == GREETING
            each.send(f"c{number} ID NIL\r\n".encode())
        for number, each in enumerate(clients, start=1):
            assert each.until_tagged(f"c{number}")[-1] == f"c{number} OK ID completed."
        conns = {capture.wait_for("received", tag=f"c{n}")["conn"] for n in (1, 2, 3)}
        assert conns == {1, 2, 3}
    finally:
        for each in clients:
            each.close()


def test_capture_client_hanging_up_is_recorded(capture: Relay, client: Client) -> None:
    client.close()
    assert capture.wait_for("closed", conn=1)["relay"] == "cap"


def test_capture_idle_client_times_out() -> None:
    relay = Relay(capture_config(timeout=0.2))
    try:
        client = Client(relay.port)
        assert client.line() == GREETING
        assert "timed out" in relay.wait_for("error", conn=1)["message"]
        relay.wait_for("closed", conn=1)
        assert client.at_eof()
    finally:
        relay.stop()


def test_capture_oversized_command_is_refused(capture: Relay, client: Client) -> None:
    client.send(b"a1 LOGIN {999999}\r\n")
    assert client.line().startswith("* BYE mailhops capture: command of")
    assert client.at_eof()
    assert "limit" in capture.wait_for("error", conn=1)["message"]
    capture.wait_for("closed", conn=1)


# --- inject -------------------------------------------------------------------------


def test_inject_sends_id_before_the_clients_commands(capture: Relay) -> None:
    front = Relay(inject_config(capture.port))
    try:
        client = Client(front.port)
        assert client.line() == GREETING
        client.send(b'a1 LOGIN "alice" "secret"\r\n')
        assert client.until_tagged("a1") == [f"a1 {REFUSED}"]
        client.send(b"a2 LOGOUT\r\n")
        assert client.until_tagged("a2")[-1] == "a2 OK LOGOUT completed."
        assert client.at_eof()

        injected_line = 'mh1 ID ("x-originating-ip" "203.0.113.7" "x-proxy-ttl" "5" "x-nil" NIL)'
        capture.wait_for("received", tag="a2")
        received = [e for e in capture.events if e["event"] == "received"]
        assert [e["line"] for e in received] == [
            injected_line,
            'a1 LOGIN "alice" "secret"',
            "a2 LOGOUT",
        ]
        assert received[0]["id"] == [
            ["x-originating-ip", "203.0.113.7"],
            ["x-proxy-ttl", "5"],
            ["x-nil", None],
        ]
        assert front.wait_for("upstream_greeting", conn=1)["line"] == GREETING
        injected = front.wait_for("injected", conn=1)
        assert injected["line"] == injected_line
        assert injected["reply"] == ["* ID NIL", "mh1 OK ID completed."]
        front.wait_for("closed", conn=1)
    finally:
        front.stop()


def test_inject_without_id_fields_sends_id_nil(capture: Relay) -> None:
    config = inject_config(capture.port)
    del config["id"]
    front = Relay(config)
    try:
        client = Client(front.port)
        assert client.line() == GREETING
        assert front.wait_for("injected", conn=1)["line"] == "mh1 ID NIL"
        assert capture.wait_for("received", tag="mh1")["id"] == []
    finally:
        front.stop()


def test_inject_upstream_refused() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
        front = Relay(inject_config(closed.getsockname()[1]))
        try:
            client = Client(front.port)
            assert client.line() == "* BYE mailhops relay: upstream unavailable"
            assert client.at_eof()
            assert "cannot connect to upstream" in front.wait_for("error", conn=1)["message"]
            front.wait_for("closed", conn=1)
        finally:
            front.stop()


def test_inject_upstream_that_never_greets_times_out() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        front = Relay(inject_config(silent.getsockname()[1], timeout=0.3))
        try:
            client = Client(front.port)
            assert client.line() == "* BYE mailhops relay: upstream unavailable"
            message = front.wait_for("error", conn=1)["message"]
            assert "timed out" in message
            assert "greeting" in message
        finally:
            front.stop()


def test_inject_passes_bytes_sent_by_upstream_after_its_reply() -> None:
    with socket.create_server(("127.0.0.1", 0)) as fake:
        front = Relay(inject_config(fake.getsockname()[1]))
        try:
            client = Client(front.port)
            upstream, _ = fake.accept()
            upstream.settimeout(TIMEOUT)
            with upstream, upstream.makefile("rb") as from_relay:
                upstream.sendall(b"* OK hi\r\n")
                assert from_relay.readline().startswith(b"mh1 ID (")
                upstream.sendall(b"mh1 OK done\r\n* OK [ALERT] extra\r\n")
                assert client.line() == "* OK hi"
                assert client.line() == "* OK [ALERT] extra"
                client.send(b"x NOOP\r\n")
                assert from_relay.readline() == b"x NOOP\r\n"
        finally:
            front.stop()


# --- configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (None, "MAILHOPS_RELAY"),
        ("{not json", "JSON"),
        (json.dumps(capture_config(mode="pass")), "mode"),
        (json.dumps(capture_config(protocol="gopher")), "protocol"),
        (json.dumps(capture_config(listen={"host": "127.0.0.1"})), "listen"),
        (json.dumps(capture_config(timeout=0)), "timeout"),
        (json.dumps(capture_config(lsiten=1)), "lsiten"),
        (json.dumps(capture_config(upstream={"host": "h", "port": 1})), "inject"),
        (json.dumps({**inject_config(143), "upstream": None}), "upstream"),
        (json.dumps(inject_config(143, id=[["k", "a\r\nb"]])), "'k'"),
        (json.dumps(inject_config(143, id=[["k"]])), "id"),
        (json.dumps(inject_config(0)), "upstream.port"),
    ],
)
def test_bad_config_exits_2_with_one_line(config: str | None, message: str) -> None:
    result = run_with_config(config)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr


def test_config_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "relay.json"
    path.write_text(json.dumps(capture_config(mode="nope")))
    result = run_with_config(None, "--config", str(path))
    assert result.returncode == 2
    assert "mode" in result.stderr
    missing = run_with_config(None, "--config", str(tmp_path / "absent.json"))
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr


def test_load_config_defaults() -> None:
    config = load_config(json.dumps(inject_config(143, timeout=2)), protocols=HANDLERS)
    assert config.upstream == Endpoint("127.0.0.1", 143)
    assert config.id == (("x-originating-ip", "203.0.113.7"), ("x-proxy-ttl", "5"), ("x-nil", None))
    assert config.timeout == 2.0
    del_timeout = {k: v for k, v in capture_config().items() if k != "timeout"}
    assert load_config(json.dumps(del_timeout), protocols=HANDLERS).timeout == 30.0
    with pytest.raises(ConfigError):
        load_config("[]", protocols=HANDLERS)


def test_capture_replies_are_tagged() -> None:
    replies, keep_open = capture_replies(parse_command("zz LOGIN a b"))
    assert (replies, keep_open) == ([f"zz {REFUSED}"], True)
    assert capture_replies(None)[0][0].startswith("* BAD")
