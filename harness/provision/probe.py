"""Readiness probes: poll a condition with a deadline, read a protocol greeting. Every network call has a timeout."""

from __future__ import annotations

import errno
import random
import re
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass. Returns whether it held."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def read_greeting(address: str, port: int, timeout: float = 2.0,
                  on_connect: Callable[[str, int], None] | None = None) -> str | None:
    """Connect and read one line, or None when nothing answers yet. `on_connect` gets the probe's own address
    and port, so the lines a server logs about the probe can be told from the scenario's."""
    try:
        with probe_connection(address, port, timeout) as sock:
            if on_connect is not None:
                own_address, own_port = sock.getsockname()[:2]
                on_connect(own_address, own_port)
            sock.settimeout(timeout)
            data = b""
            while not data.endswith(b"\n") and len(data) < 4096:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    return data.decode(errors="replace").strip() or None


def probe_connection(address: str, port: int, timeout: float) -> socket.socket:
    """A connection from a source port the kernel never hands out (below its ephemeral range): the scenario's
    clients connect from the same address, and a client given a port a probe had used would have its lines
    dropped with the probe's (seen once in a soak: a submission client's XCLIENT line went missing)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    for source_port in random.sample(PROBE_PORTS, PORT_ATTEMPTS):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", source_port))
            sock.connect((address, port))
            return sock
        except OSError as exc:
            sock.close()
            if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
                raise
    raise OSError(errno.EADDRINUSE, f"no free probe port after {PORT_ATTEMPTS} tries")


def _probe_ports() -> range:
    """1024 up to the kernel's ephemeral range (ip_local_port_range; Linux's default starts at 32768)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(1024, max(low, 1024 + PORT_ATTEMPTS))


PORT_ATTEMPTS = 20
PROBE_PORTS = _probe_ports()


def probe_line_pattern(probes: Iterable[tuple[str, int]]) -> re.Pattern[str] | None:
    """What names a probe's own endpoint in a log line (Dovecot's `rip=A, rport=P`, `A:P` or `[A]:P` elsewhere),
    or None for no probes."""
    endpoints = [(address, str(port)) for address, port in probes]
    if not endpoints:
        return None
    return re.compile("|".join(
        rf"(?<![\w.:]){re.escape(address)}(?:\]?:|, rport=){port}(?!\d)" for address, port in endpoints))


def without_probe_lines(log: str, probes: Iterable[tuple[str, int]]) -> str:
    """The log without the lines that name a readiness probe's own endpoint: the probe is the harness's traffic,
    not the scenario's, and whether a server has logged its close by the time the log is read is timing."""
    pattern = probe_line_pattern(probes)
    if pattern is None:
        return log
    return "".join(line for line in log.splitlines(keepends=True) if not pattern.search(line))


def log_barrier(address: str, port: int, log: Callable[[], str], on_connect: Callable[[str, int], None],
                timeout: float, rounds: int = 2) -> bool:
    """For a server whose every process logs through one writer that drains all ready input each turn of its
    loop (Dovecot's log process): open a probe connection, close it after the greeting, and wait for the line
    that names it. Every line a process wrote before the probe was opened is in the log by the end of the
    writer's turn that wrote the probe's line; a second round, begun once the first line is seen, can only be
    logged in a later turn, so seeing it means that turn has ended. Returns whether every round was seen
    within `timeout` (False: the log may be incomplete, and nothing is known)."""
    deadline = time.monotonic() + timeout
    return all(_barrier_round(address, port, log, on_connect, deadline) for _ in range(rounds))


def _barrier_round(address: str, port: int, log: Callable[[], str], on_connect: Callable[[str, int], None],
                   deadline: float) -> bool:
    endpoint: list[tuple[str, int]] = []
    start = len(log())

    def remember(own_address: str, own_port: int) -> None:
        endpoint.append((own_address, own_port))
        on_connect(own_address, own_port)

    if read_greeting(address, port, timeout=max(0.1, deadline - time.monotonic()), on_connect=remember) is None:
        return False
    pattern = probe_line_pattern(endpoint)
    return pattern is not None and wait_until(lambda: pattern.search(log(), start) is not None,
                                              max(0.0, deadline - time.monotonic()), interval=0.005)
