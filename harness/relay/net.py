"""Socket helpers shared by every protocol: timed reads, addresses, byte piping."""

from __future__ import annotations

import socket

from harness.protocol.wire import encode
from harness.relay.errors import RelayError
from harness.relay.pump import RECV_SIZE, StreamFilter, pump

__all__ = ["RECV_SIZE", "RelayError", "StreamFilter", "connect", "format_peer", "no_delay", "pipe", "recv_some",
           "send_line"]


def format_peer(address: tuple[object, ...]) -> str:
    """``host:port``, with IPv6 hosts in brackets."""
    host, port = str(address[0]), address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def recv_some(sock: socket.socket, what: str) -> bytes:
    """Up to RECV_SIZE bytes (b"" at end of stream); RelayError on timeout."""
    try:
        return sock.recv(RECV_SIZE)
    except TimeoutError:
        raise RelayError(f"timed out after {sock.gettimeout():g}s waiting for {what}") from None


def send_line(sock: socket.socket, line: str) -> None:
    """Send one protocol line, adding CRLF."""
    sock.sendall(encode(line) + b"\r\n")


def connect(host: str, port: int, timeout: float) -> socket.socket:
    """A connected socket whose every later operation times out after ``timeout``."""
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.settimeout(timeout)
    no_delay(sock)
    return sock


def no_delay(sock: socket.socket) -> None:
    """Send each write at once: with Nagle's algorithm a small write waits for the peer's delayed ACK (40 ms
    on Linux) whenever the previous one is unacknowledged, and a relay writes small lines both ways."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def pipe(
    client: socket.socket,
    upstream: socket.socket,
    timeout: float,
    client_filter: StreamFilter | None = None,
    upstream_filter: StreamFilter | None = None,
) -> None:
    """Copy bytes both ways until one side closes; unchanged unless ``client_filter``
    rewrites what the client sends (``upstream_filter``: what upstream sends). The copying
    is done by the process's one pump thread (:mod:`harness.relay.pump`); this waits.

    Raises RelayError when neither side sends anything for ``timeout`` seconds.
    """
    pump().run(client, upstream, timeout, client_filter, upstream_filter)
