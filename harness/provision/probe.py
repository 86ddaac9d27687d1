"""Readiness probes: poll a condition with a deadline, read a protocol greeting. Every network call has a timeout."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterable


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
        with socket.create_connection((address, port), timeout=timeout) as sock:
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


def without_probe_lines(log: str, probes: Iterable[tuple[str, int]]) -> str:
    """The log without the lines that name a readiness probe's own endpoint (Dovecot's `rip=A, rport=P`,
    `A:P` or `[A]:P` elsewhere): the probe is the harness's traffic, not the scenario's, and whether a server
    has logged its close by the time the log is read is timing."""
    endpoints = [(address, str(port)) for address, port in probes]
    if not endpoints:
        return log
    pattern = re.compile("|".join(
        rf"(?<![\w.:]){re.escape(address)}(?:\]?:|, rport=){port}(?!\d)" for address, port in endpoints))
    return "".join(line for line in log.splitlines(keepends=True) if not pattern.search(line))
