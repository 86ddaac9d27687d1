"""The followed container log: chunks joined in order, and a full re-read from the engine taken where the
followed stream holds less (a stream that broke must not make a hop look silent)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from harness.provision.container import LogFollower, NodeContainer
from harness.provision.probe import wait_until


def test_chunks_are_joined_in_order_and_a_split_utf8_character_survives() -> None:
    follower = LogFollower(iter([b"line one\nz\xc3", b"\xbcrich\n"]))
    assert wait_until(lambda: follower.text() == "line one\nzürich\n", 2.0)


class _Engine:
    def __init__(self, text: bytes):
        self.text = text

    def get_wrapped_container(self) -> _Engine:
        return self

    def logs(self, stdout: bool, stderr: bool) -> bytes:
        return self.text


def _container(followed: list[bytes], engine: bytes) -> NodeContainer:
    container = NodeContainer.__new__(NodeContainer)
    container._container = _Engine(engine)  # type: ignore[assignment]
    stop = threading.Event()

    def broken_stream() -> Iterator[bytes]:
        yield from followed
        stop.set()

    container._log = LogFollower(broken_stream())
    assert stop.wait(2.0)
    return container


def test_a_stream_that_stopped_early_is_made_whole_from_the_engine() -> None:
    container = _container([b"starting up\n"], b"starting up\nLogin: user=<alice>\n")
    assert wait_until(lambda: container.log() == "starting up\n", 2.0)
    assert container.reread_log() is True
    assert container.log() == "starting up\nLogin: user=<alice>\n"


def test_a_whole_stream_is_kept() -> None:
    container = _container([b"starting up\n", b"Login: user=<alice>\n"], b"starting up\n")
    assert wait_until(lambda: container.log() == "starting up\nLogin: user=<alice>\n", 2.0)
    assert container.reread_log() is False
    assert container.log() == "starting up\nLogin: user=<alice>\n"
