"""The settle rule's log barrier (harness/observe/settle.py) in pure code and on the loopback: a probe whose close
the server logs; what each kind counts as work still going on after the clients finished; rings."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.kinds.dovecot.log import proxies_retry
from harness.kinds.postfix.log import mail_in_queue
from harness.load.scenario import load_scenario
from harness.plan.topology import plan
from harness.provision.probe import log_barrier, probe_connection, without_probe_lines
from tests.conftest import SCENARIOS


class LoggingServer:
    """Greets every connection and, when `logs` is set, appends `closed A:P` to its log once the peer hangs up
    (as imap-login logs a connection that never logged in)."""

    def __init__(self, logs: bool):
        self.logs = logs
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def log(self) -> str:
        with self._lock:
            return "".join(self.lines)

    def _accept(self) -> None:
        while True:
            try:
                conn, (address, port) = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, address, port), daemon=True).start()

    def _serve(self, conn: socket.socket, address: str, port: int) -> None:
        with conn:
            conn.settimeout(5.0)
            conn.sendall(b"* OK ready\r\n")
            while conn.recv(4096):
                pass
        if self.logs:
            with self._lock:
                self.lines.append(f"closed {address}:{port}\n")


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[LoggingServer]:
    running = LoggingServer(logs=request.param)
    yield running
    running.listener.close()


@pytest.mark.parametrize("server", [True], indirect=True)
def test_the_barrier_holds_once_the_probes_close_is_logged(server: LoggingServer) -> None:
    probes: list[tuple[str, int]] = []
    server.lines.append("a line of the scenario's\n")
    assert log_barrier("127.0.0.1", server.port, server.log, lambda *endpoint: probes.append(endpoint), 3.0)
    assert len(probes) == 2  # two rounds
    assert without_probe_lines(server.log(), probes) == "a line of the scenario's\n"


@pytest.mark.parametrize("server", [False], indirect=True)
def test_a_server_that_does_not_log_the_probe_gives_no_barrier(server: LoggingServer) -> None:
    assert not log_barrier("127.0.0.1", server.port, server.log, lambda *_: None, 0.5)


def test_nothing_listening_gives_no_barrier() -> None:
    with socket.create_server(("127.0.0.1", 0)) as unused:
        port = unused.getsockname()[1]
    assert not log_barrier("127.0.0.1", port, lambda: "", lambda *_: None, 0.5)


RETRY_24 = ("Dec 05 23:19:54 imap-login: Warning: proxy(alice,10.81.16.21:143): Aborting due to remote server: "
            "[SERVERBUG] Account is temporarily unavailable. - reconnecting (attempt #3): user=<alice>, "
            "method=PLAIN, rip=203.0.113.7, rport=58502, lip=10.81.16.10, lport=143, real_rip=10.81.16.20, "
            "session=<chain7>\n")
FAILED_24 = ("Dec 05 23:19:55 imap-login: Info: proxy(alice,10.81.16.17:143): Login failed: [UNAVAILABLE] Account "
             "is temporarily unavailable.: user=<alice>, method=PLAIN, rip=203.0.113.7, rport=58502, "
             "lip=10.81.16.10, lport=143, real_rip=10.81.16.16, session=<chain7>\n")


def test_a_proxy_that_retried_may_go_on_after_the_client_has_its_answer() -> None:
    assert proxies_retry(FAILED_24 + RETRY_24)
    assert not proxies_retry(FAILED_24)


QUEUED = """\
Dec 05 23:23:55 pf postfix/smtpd[160]: CED331A2A8D: client=unknown[10.1.2.1]:40000
Dec 05 23:23:55 pf postfix/cleanup[171]: CED331A2A8D: message-id=<20261205232355.CED331A2A8D@pf.mailhops.test>
Dec 05 23:23:55 pf postfix/qmgr[165]: CED331A2A8D: from=<alice@example.test>, size=345, nrcpt=1 (queue active)
"""
DELIVERED = """\
Dec 05 23:23:55 pf postfix/discard[172]: CED331A2A8D: to=<bob@example.net>, relay=none, delay=0.07, \
delays=0.01/0.06/0/0, dsn=2.0.0, status=sent (example.net)
Dec 05 23:23:55 pf postfix/qmgr[165]: CED331A2A8D: removed
"""


def test_a_mail_in_postfixs_queue_is_work_until_it_is_removed() -> None:
    assert mail_in_queue(QUEUED)
    assert not mail_in_queue(QUEUED + DELIVERED)
    assert not mail_in_queue("Dec 05 23:23:55 pf postfix/smtpd[160]: connect from unknown[10.1.2.1]:40000\n")


def test_a_ring_is_a_loop_and_a_chain_is_not() -> None:
    ring = load_scenario(SCENARIOS / "loops" / "imap_ring_2.yaml")
    chain = load_scenario(SCENARIOS / "imap" / "trusted_front.yaml")
    assert plan(ring, {"dovecot": "2.4.1"}, "10.77.4.0/24").loops
    assert not plan(chain, {"dovecot": "2.4.1"}, "10.77.4.0/24").loops


def test_probes_connect_from_ports_the_kernel_never_gives_a_client() -> None:
    """The scenario's clients connect from the same address as the probes: a client given a port a probe had
    used would have its lines dropped as the probe's."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        probes = [probe_connection("127.0.0.1", port, 2.0) for _ in range(20)]
        client = socket.create_connection(("127.0.0.1", port), timeout=2.0)
        try:
            assert all(probe.getsockname()[1] < low for probe in probes)
            assert client.getsockname()[1] >= low
        finally:
            for sock in [*probes, client]:
                sock.close()
