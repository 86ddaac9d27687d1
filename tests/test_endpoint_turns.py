"""Endpoint changes one at a time per network (harness/provision/endpoints.py): a start holds the turn until the
engine reports its container connected, then the next start goes while the first one goes on; without events,
until the call returns; removals disconnect one at a time."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import docker
import docker.errors
import pytest

from harness.provision.endpoints import EndpointTurns

TIMEOUT_S = 5


class _Events:
    """The engine's event stream: what the test puts, until closed."""

    def __init__(self) -> None:
        self.queue: queue.Queue[dict | None] = queue.Queue()  # type: ignore[type-arg]

    def __iter__(self) -> Iterator[dict]:  # type: ignore[type-arg]
        while (event := self.queue.get(timeout=TIMEOUT_S)) is not None:
            yield event

    def connected(self, container_id: str) -> None:
        self.queue.put({"Type": "network", "Action": "connect",
                        "Actor": {"ID": "net", "Attributes": {"container": container_id, "type": "bridge"}}})

    def close(self) -> None:
        self.queue.put(None)


class _Client:
    def __init__(self, events: _Events | None):
        self.stream = events
        self.filters: dict[str, str] = {}

    def events(self, since: int, decode: bool, filters: dict[str, str]) -> _Events:
        if self.stream is None:
            raise docker.errors.APIError("events refused")
        self.filters = filters
        return self.stream


class _Start:
    """A start call that runs until the test lets it end."""

    def __init__(self) -> None:
        self.began = threading.Event()
        self.may_end = threading.Event()

    def __call__(self) -> None:
        self.began.set()
        assert self.may_end.wait(TIMEOUT_S)


def _in_thread(turns: EndpointTurns, container_id: str, start: _Start) -> threading.Thread:
    thread = threading.Thread(target=turns.creating, args=(container_id, start), daemon=True)
    thread.start()
    return thread


def test_the_next_start_goes_at_the_connect_event_of_the_one_before() -> None:
    events = _Events()
    client = _Client(events)
    turns = EndpointTurns(client, "net")  # type: ignore[arg-type]
    first, second = _Start(), _Start()
    with turns.following_connects():
        one = _in_thread(turns, "a", first)
        assert first.began.wait(TIMEOUT_S)
        two = _in_thread(turns, "b", second)
        events.connected("someone-else")
        assert not second.began.wait(0.3), "the second start went before the first one's endpoint existed"
        events.connected("a")
        assert second.began.wait(TIMEOUT_S), "the second start waited for the first call, not its connect event"
        assert one.is_alive(), "the starts did not overlap"
        first.may_end.set()
        second.may_end.set()
        one.join(TIMEOUT_S)
        two.join(TIMEOUT_S)
    assert turns.ended_by_event == 1
    assert client.filters == {"type": "network", "event": "connect", "network": "net"}


def test_without_events_a_start_holds_the_turn_for_its_whole_call() -> None:
    turns = EndpointTurns(_Client(None), "net")  # type: ignore[arg-type]
    first, second = _Start(), _Start()
    with turns.following_connects():
        one = _in_thread(turns, "a", first)
        assert first.began.wait(TIMEOUT_S)
        two = _in_thread(turns, "b", second)
        assert not second.began.wait(0.3)
        first.may_end.set()
        assert second.began.wait(TIMEOUT_S)
        second.may_end.set()
        one.join(TIMEOUT_S)
        two.join(TIMEOUT_S)
    assert turns.ended_by_event == 0


def test_a_start_that_fails_ends_its_turn() -> None:
    turns = EndpointTurns(_Client(None), "net")  # type: ignore[arg-type]

    def refused() -> None:
        raise docker.errors.APIError("no such image")

    with turns.following_connects():
        with pytest.raises(docker.errors.APIError):
            turns.creating("a", refused)
        assert turns.creating("b", lambda: "started") == "started"


def test_removals_disconnect_one_at_a_time() -> None:
    turns = EndpointTurns(_Client(None), "net")  # type: ignore[arg-type]
    inside: list[int] = []
    most = [0]
    lock = threading.Lock()

    def disconnect() -> None:
        with lock:
            inside.append(1)
            most[0] = max(most[0], len(inside))
        threading.Event().wait(0.02)
        with lock:
            inside.pop()

    threads = [threading.Thread(target=turns.deleting, args=(disconnect,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert most[0] == 1
