"""One thread that moves the bytes of every piped session: a session's own thread hands its two sockets over
and waits. With a thread per connection doing the copying, 500 busy sessions are 500 threads taking turns at
the interpreter lock, and each byte waits its turn; one selector loop answers each socket as soon as it is
readable. Handshakes (ID, XCLIENT) still run in the session's thread, before the hand-over."""

from __future__ import annotations

import contextlib
import selectors
import signal
import socket
import threading
import time
from typing import Protocol

from harness.relay.errors import RelayError

RECV_SIZE = 65536
IDLE_CHECK_S = 0.5
"""How often the pairs are scanned for their idle timeout: a scan per readable socket would cost 500 steps per
byte at 500 sessions; a timeout (seconds to minutes) is only ever late by this much."""


class StreamFilter(Protocol):
    """Rewrites a byte stream as it passes: ``feed`` what arrives, ``flush`` at its end. A filter may also have
    ``after_send()``, called once what ``feed`` returned has been sent (work kept off the bytes' way)."""

    def feed(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


class _Pair:
    """Two sockets piped into each other, and how the piping ended."""

    def __init__(self, client: socket.socket, upstream: socket.socket, timeout: float,
                 client_filter: StreamFilter | None, upstream_filter: StreamFilter | None) -> None:
        self.ends = {client: (upstream, client_filter, getattr(client_filter, "after_send", None)),
                     upstream: (client, upstream_filter, getattr(upstream_filter, "after_send", None))}
        self.timeout = timeout
        self.last = time.monotonic()
        self.done = threading.Event()
        self.error: BaseException | None = None


class Pump:
    """The selector loop; `run` blocks its caller until the pair ends (one side closed, an error, or no traffic
    either way for the pair's timeout) and raises what ended it, if that was an error."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._new: list[_Pair] = []
        self._pairs: set[_Pair] = set()
        threading.Thread(target=self._loop, name="pump", daemon=True).start()

    def run(self, client: socket.socket, upstream: socket.socket, timeout: float,
            client_filter: StreamFilter | None = None, upstream_filter: StreamFilter | None = None) -> None:
        pair = _Pair(client, upstream, timeout, client_filter, upstream_filter)
        with self._lock:
            self._new.append(pair)
        self._wake_write.send(b"\0")
        pair.done.wait()
        if pair.error is not None:
            raise pair.error

    def _loop(self) -> None:
        leave_signals_to_main_thread()
        checked = time.monotonic()
        while True:
            ready = self._selector.select(IDLE_CHECK_S if self._pairs else None)
            for key, _ in ready:
                if key.data is None:
                    self._take_new()
                elif key.data in self._pairs:
                    self._forward(key.data, key.fileobj)  # type: ignore[arg-type]
            now = time.monotonic()
            if now - checked >= IDLE_CHECK_S:
                checked = now
                for pair in [pair for pair in self._pairs if now - pair.last >= pair.timeout]:
                    self._finish(pair, RelayError(f"no traffic either way for {pair.timeout:g}s"))

    def _take_new(self) -> None:
        while True:
            try:
                if not self._wake_read.recv(4096):
                    break
            except BlockingIOError:
                break
        with self._lock:
            new, self._new = self._new, []
        for pair in new:
            self._pairs.add(pair)
            for sock in pair.ends:
                self._selector.register(sock, selectors.EVENT_READ, pair)

    def _forward(self, pair: _Pair, source: socket.socket) -> None:
        target, stream_filter, after_send = pair.ends[source]
        try:
            try:
                data = source.recv(RECV_SIZE)
            except ConnectionResetError:
                data = b""
            out = data
            if stream_filter is not None:
                out = stream_filter.feed(data) if data else stream_filter.flush()
            if out:
                target.sendall(out)
            if after_send is not None:
                after_send()
        except Exception as err:  # noqa: BLE001 - handed to the session's thread, which records it
            self._finish(pair, err)
            return
        pair.last = time.monotonic()
        if not data:
            self._finish(pair, None)

    def _finish(self, pair: _Pair, error: BaseException | None) -> None:
        for sock in pair.ends:
            with contextlib.suppress(KeyError, ValueError):  # closed or never registered
                self._selector.unregister(sock)
        self._pairs.discard(pair)
        pair.error = error
        pair.done.set()


def leave_signals_to_main_thread() -> None:
    """Leave SIGTERM, SIGINT and SIGUSR1 (the log mark) to the main thread: one delivered to a thread blocked in
    select would not wake the main thread (blocked in accept), whose handlers end the process or write the mark."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGUSR1})


_started: list[Pump] = []
_start_lock = threading.Lock()


def pump() -> Pump:
    """The process's pump, started on first use."""
    with _start_lock:
        if not _started:
            _started.append(Pump())
        return _started[0]
