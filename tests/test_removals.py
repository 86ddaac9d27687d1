"""Removals handed off by finished runs (harness.pipeline.Removals): done in order, in a thread of their own, and
waited for at the end of the session with the errors they raised."""

from __future__ import annotations

import threading

from harness.pipeline import Removals


def test_removals_run_in_order_off_the_callers_thread_and_their_errors_are_kept() -> None:
    done: list[tuple[str, bool]] = []
    gate = threading.Event()

    def removal(name: str) -> None:
        assert gate.wait(5.0)
        done.append((name, threading.current_thread() is threading.main_thread()))

    def failing() -> None:
        raise RuntimeError("network has active endpoints")

    removals = Removals()
    removals.submit(lambda: removal("first"))
    removals.submit(failing)
    removals.submit(lambda: removal("second"))
    assert done == []  # submit did not wait
    gate.set()
    errors = removals.wait()
    assert done == [("first", False), ("second", False)]
    assert [str(error) for error in errors] == ["network has active endpoints"]


def test_an_error_is_kept_after_later_removals_were_handed_off() -> None:
    def failing() -> None:
        raise RuntimeError("refused")

    removals = Removals()
    removals.submit(failing)
    assert [str(error) for error in removals.wait()] == ["refused"]
    removals.submit(lambda: None)
    assert [str(error) for error in removals.wait()] == ["refused"]
