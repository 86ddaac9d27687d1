"""One endpoint change at a time per scenario network, while the containers still start and stop concurrently.

Docker engines before 28.1 keep a count of each network's endpoints beside the endpoints themselves
(libnetwork's `endpointCnt`), updated by a read-modify-write that concurrent updates can apply twice: a network
whose count stays above zero is refused for good ("has active endpoints", with no container in it) until dockerd
restarts (moby/moby#42119; 28.1 dropped the count). Seen here once in a few thousand items: the network of
`loops/ring_via_relays` and of `ttl/chain_7`. So a start takes its turn only for the part that creates its
endpoint (it lets the next start go at the engine's `connect` event for it), and a removal disconnects in turn
before it removes."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import docker
import docker.errors
import requests

T = TypeVar("T")


class EndpointTurns:
    """Endpoint changes in one network, one after the other. `creating(container_id, start)` holds the turn
    until the engine reports the container connected (or the call returns); `deleting(call)` for the whole
    call. Without an event stream (the engine refused it, or it broke) a start holds the turn for its whole
    call: slower, never unsafe."""

    def __init__(self, client: docker.DockerClient, network_id: str):
        self._client = client
        self._network_id = network_id
        self._turn = threading.Lock()
        self._mutex = threading.Lock()
        self._holder: str | None = None
        self._stream: Any = None
        self._reader: threading.Thread | None = None
        self.ended_by_event = 0
        """How many turns the engine's `connect` event ended (the others ended when their call returned)."""

    @contextlib.contextmanager
    def following_connects(self) -> Iterator[EndpointTurns]:
        """Follow the network's `connect` events while the block runs (its starts)."""
        try:
            self._stream = self._client.events(since=int(time.time()) - 1, decode=True, filters={
                "type": "network", "event": "connect", "network": self._network_id})
        except (docker.errors.APIError, requests.RequestException):
            self._stream = None
        if self._stream is not None:
            self._reader = threading.Thread(target=self._read, daemon=True, name="endpoint-events")
            self._reader.start()
        try:
            yield self
        finally:
            if self._stream is not None:
                with contextlib.suppress(Exception):
                    self._stream.close()
            if self._reader is not None:
                self._reader.join(timeout=5)

    def _read(self) -> None:
        with contextlib.suppress(Exception):  # the stream ends by close() or breaks: turns then end at return
            for event in self._stream:
                if self._let_next((event.get("Actor") or {}).get("Attributes", {}).get("container")):
                    self.ended_by_event += 1

    def _let_next(self, container_id: str | None) -> bool:
        with self._mutex:
            if container_id is None or self._holder != container_id:
                return False
            self._holder = None
        self._turn.release()
        return True

    def creating(self, container_id: str, call: Callable[[], T]) -> T:
        self._turn.acquire()
        with self._mutex:
            self._holder = container_id
        try:
            return call()
        finally:
            self._let_next(container_id)

    def deleting(self, call: Callable[[], T]) -> T:
        with self._turn:
            return call()
