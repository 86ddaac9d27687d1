"""Helpers for the relay's tests: the relay as a real subprocess on 127.0.0.1, clients, what Dovecot sends."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 15.0  # only reached when something is wrong; a loaded 2-core machine starts python slowly
GREETING = "* OK [CAPABILITY IMAP4rev1 ID LITERAL+ AUTH=PLAIN] mailhops capture ready"
POP3_GREETING = "+OK [XCLIENT] mailhops capture ready"
SMTP_GREETING = "220 capture.test ESMTP mailhops capture"
LMTP_GREETING = "220 capture.test LMTP mailhops capture"

D23_WIRE = (
    b'I ID ("x-session-id" "abc123" "x-originating-ip" "203.0.113.7" '
    b'"x-originating-port" "51234" "x-connected-ip" "10.231.7.20" '
    b'"x-connected-port" "143" "x-proxy-ttl" "4" "x-forward-tenant" "acme")\r\n'
    b'L LOGIN "alice" "secret"\r\n'
)
# Verbatim from observed-findings.md E5/E6: what Dovecot proxies sent to the next hop.
POP3_D23_WIRE = (
    b"XCLIENT ADDR=203.0.113.7 PORT=51234 SESSION=abc123 TTL=4 FORWARD=dGVuYW50PWFjbWU=\r\nUSER cap\r\n"
)
SUBMISSION_D24 = (
    "XCLIENT HELO=orig.example PROTO=ESMTP TTL=4 PORT=51234 ADDR=203.0.113.7 SESSION=abc123 "
    "CLIENT-TRANSPORT=insecure FORWARD=dGVuYW50PWFjbWU+3D"
)
LMTP_D23 = "XCLIENT HELO=orig.example PROTO=LMTP SESSION=abc123:P1 TTL=4 PORT=51234 ADDR=203.0.113.7"
Event = dict[str, Any]


class Relay:
    """A relay subprocess and the JSON events it prints."""

    def __init__(self, config: dict[str, object]) -> None:
        env = {**os.environ, "MAILHOPS_RELAY": json.dumps(config)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "harness.relay"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[Event] = []
        self.raw_lines: list[str] = []
        """Every line as printed, for what the harness matches on the text itself."""
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self.port = int(self.wait_for("ready")["port"])

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, event: str, **match: object) -> Event:
        """The first event (seen before or arriving within TIMEOUT) that matches."""
        seen = 0
        while True:
            for record in self.events[seen:]:
                if record["event"] == event and all(record.get(k) == v for k, v in match.items()):
                    return record
            seen = len(self.events)
            try:
                line = self._lines.get(timeout=TIMEOUT)
            except queue.Empty:
                pytest.fail(f"no {event} {match} within {TIMEOUT}s; saw {self.events}")
            if line is None:
                pytest.fail(f"relay exited before {event} {match}; saw {self.events}")
            self.raw_lines.append(line)
            record = json.loads(line)
            assert {"event", "relay", "t"} <= set(record)
            self.events.append(record)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=TIMEOUT)


class Client:
    """A line-oriented IMAP client socket with timeouts."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self._buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> str:
        while b"\r\n" not in self._buffer:
            data = self.sock.recv(4096)
            if not data:
                raise EOFError(f"closed; unterminated: {self._buffer!r}")
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line.decode()

    def until_tagged(self, tag: str) -> list[str]:
        lines = [self.line()]
        while not lines[-1].startswith(f"{tag} "):
            lines.append(self.line())
        return lines

    def at_eof(self) -> bool:
        return not self._buffer and self.sock.recv(4096) == b""

    def close(self) -> None:
        self.sock.close()


class LineClient(Client):
    """A client for line protocols; ``reply`` reads a whole multi-line SMTP reply."""

    def reply(self) -> list[str]:
        lines = [self.line()]
        while lines[-1][3:4] == "-":
            lines.append(self.line())
        return lines


def config(protocol: str, mode: str, name: str = "cap", **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "protocol": protocol,
        "mode": mode,
        "listen": {"host": "127.0.0.1", "port": 0},
        "timeout": TIMEOUT,
        **extra,
    }


@pytest.fixture(name="relays")
def started_relays() -> Iterator[list[Relay]]:
    """The relays a test starts with :func:`start`, stopped when it ends."""
    started: list[Relay] = []
    yield started
    for relay in started:
        relay.stop()


def start(relays: list[Relay], settings: dict[str, object]) -> Relay:
    relay = Relay(settings)
    relays.append(relay)
    return relay


def run_with_config(config: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILHOPS_RELAY"}
    if config is not None:
        env["MAILHOPS_RELAY"] = config
    return subprocess.run(
        [sys.executable, "-m", "harness.relay", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 2,
        check=False,
    )
