"""Socket helpers shared by every protocol: timed reads, addresses, byte piping."""

from __future__ import annotations

import selectors
import socket
from typing import Protocol

from harness.protocol.wire import encode

RECV_SIZE = 65536


class RelayError(Exception):
    """A session cannot go on; the message is recorded as an ``error`` event."""


class StreamFilter(Protocol):
    """Rewrites a byte stream as it passes: ``feed`` what arrives, ``flush`` at its end."""

    def feed(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


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
    rewrites what the client sends (``upstream_filter``: what upstream sends).

    Raises RelayError when neither side sends anything for ``timeout`` seconds.
    """
    with selectors.DefaultSelector() as selector:
        selector.register(client, selectors.EVENT_READ, (client, upstream, client_filter))
        selector.register(upstream, selectors.EVENT_READ, (upstream, client, upstream_filter))
        while True:
            ready = selector.select(timeout)
            if not ready:
                raise RelayError(f"no traffic either way for {timeout:g}s")
            for key, _ in ready:
                if not _forward(*key.data):
                    return


def _forward(source: socket.socket, target: socket.socket, stream_filter: StreamFilter | None) -> bool:
    try:
        data = source.recv(RECV_SIZE)
    except ConnectionResetError:
        data = b""
    out = data
    if stream_filter is not None:
        out = stream_filter.feed(data) if data else stream_filter.flush()
    if out:
        target.sendall(out)
    return bool(data)
