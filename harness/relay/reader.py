"""Reading what a peer sends, framed, from a socket with timeouts; every protocol."""

from __future__ import annotations

import socket
from collections import deque
from typing import Generic, Protocol, TypeVar

from harness.protocol.smtp import Line, LineFramer
from harness.relay.net import RelayError, recv_some

EventT = TypeVar("EventT")


class Framer(Protocol[EventT]):
    """Splits a byte stream into events (lines, commands); see :mod:`harness.protocol`."""

    def feed(self, data: bytes) -> list[EventT]: ...

    def take_buffer(self) -> bytes: ...


class FramedReader(Generic[EventT]):
    """Hands out a peer's framed events one at a time, reading the socket as needed."""

    def __init__(self, sock: socket.socket, peer_name: str, framer: Framer[EventT]) -> None:
        self.sock = sock
        self.peer_name = peer_name
        self.framer = framer
        self._events: deque[EventT] = deque()

    def next_event(self, what: str) -> EventT | None:
        """The next event, or None when the peer closed between events.

        Raises RelayError, or the framer's error (the stream is then unusable).
        """
        while not self._events:
            data = recv_some(self.sock, f"{what} from {self.peer_name}")
            if not data:
                return self._at_end(what)
            self._events.extend(self.framer.feed(data))
        return self._events.popleft()

    def require_event(self, what: str) -> EventT:
        """The next event; RelayError if the peer closes first."""
        event = self.next_event(what)
        if event is None:
            raise RelayError(f"{self.peer_name} closed the connection before {what}")
        return event

    def take_unread(self) -> bytes:
        """Every byte received but not yet handed out, as it arrived."""
        queued = b"".join(self._raw(event) for event in self._events)
        self._events.clear()
        return queued + self.framer.take_buffer()

    def _raw(self, event: EventT) -> bytes:
        """The bytes ``event`` was framed from."""
        raise NotImplementedError

    def _at_end(self, what: str) -> None:
        partial = self.framer.take_buffer()
        if partial:
            raise RelayError(
                f"{self.peer_name} closed the connection in the middle of {what} ({len(partial)} bytes unterminated)"
            )


class LineReader(FramedReader[Line]):
    """CRLF lines: POP3, SMTP and LMTP."""

    def __init__(self, sock: socket.socket, peer_name: str) -> None:
        super().__init__(sock, peer_name, LineFramer())

    def _raw(self, event: Line) -> bytes:
        return event.raw
