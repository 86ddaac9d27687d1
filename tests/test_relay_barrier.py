"""What the settle rule's log barrier relies on in the relay (a real subprocess on 127.0.0.1, no Docker): SIGUSR1
writes a `mark` record after every record written before it, promptly, while the relay waits in accept; a
session's `closed` record is written before its socket is closed."""

from __future__ import annotations

import io
import json
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from harness.kinds.relay.kind import MARK
from harness.relay.config import load_config
from harness.relay.events import EventLog
from harness.relay.protocols import HANDLERS
from harness.relay.server import Session, run_session
from tests.relay_support import GREETING, Client, Relay, config


@pytest.fixture
def capture() -> Iterator[Relay]:
    relay = Relay(config("imap", "capture"))
    yield relay
    relay.stop()


def test_sigusr1_writes_a_mark_after_every_earlier_record(capture: Relay) -> None:
    client = Client(capture.port)
    assert client.line() == GREETING
    capture.wait_for("connect")
    started = time.monotonic()
    capture.process.send_signal(signal.SIGUSR1)
    mark = capture.wait_for("mark")
    assert time.monotonic() - started < 2.0  # the main thread, blocked in accept, ran the handler at once
    assert [record["event"] for record in capture.events].index("connect") < capture.events.index(mark)
    client.send(b"a NOOP\r\n")
    assert client.line().startswith("a OK")
    client.close()


def test_the_mark_record_holds_the_marker_the_harness_filters_on(capture: Relay) -> None:
    capture.process.send_signal(signal.SIGUSR1)
    capture.wait_for("mark")
    raw = [line for line in capture.raw_lines if '"mark"' in line]
    assert raw and all(MARK in line for line in raw)


def test_closed_is_recorded_before_the_socket_is_closed() -> None:
    stream = io.StringIO()

    class Socket:
        written_at_close = ""

        def close(self) -> None:
            Socket.written_at_close = stream.getvalue()

    session = Session(1, Socket(), "127.0.0.1:4000", load_config(json.dumps(config("imap", "capture")),
                                                                  protocols=HANDLERS), EventLog("cap", stream))
    # In a thread of its own, as in the relay: run_session blocks the exit signals in its thread, and processes
    # started later from this one would inherit that mask.
    thread = threading.Thread(target=run_session, args=(session, lambda _session: None))
    thread.start()
    thread.join(timeout=5.0)
    assert '"event": "closed"' in Socket.written_at_close
