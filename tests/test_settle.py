"""The settle rule: a verdict with an expectation that a later log line could break is only given once the logs
are complete, so a forbidden event that arrives late fails the item, with or without an observations file."""

from __future__ import annotations

import time

import pytest

from harness.check.expect import check_node
from harness.check.matchers import Context
from harness.load.scenario import node_expect_model
from harness.observe import settle
from harness.observe.events import Event, NodeObservation


class LateLog:
    """A node whose drop line is logged `after` seconds after the clients finished (0: already there), sooner
    than the settle rule's QUIET_S, as a server's late log line is."""

    def __init__(self, after: float):
        self.start = time.monotonic()
        self.after = after
        self.reads = 0

    def _logged(self) -> bool:
        return time.monotonic() - self.start >= self.after

    def observe(self) -> NodeObservation:
        self.reads += 1
        events = (Event("drop", {"reason": "ttl"}),) if self._logged() else ()
        return NodeObservation("a", "dovecot proxy", events)

    def idle_s(self) -> float:
        """Seconds since the log last grew: at the start, and again when the late line comes."""
        return time.monotonic() - self.start - (self.after if self._logged() else 0.0)


def verdict_for(expectation: dict[str, object], node: LateLog, complete: bool = False):  # type: ignore[no-untyped-def]
    expect = node_expect_model().model_validate(expectation)
    return settle.settle(node.observe, lambda seen: _verdict(expect, seen),
                         lambda: settle.wait_for_quiet([(node.idle_s, settle.QUIET_S)]), complete)[0]


def _verdict(expect, seen):  # type: ignore[no-untyped-def]
    from harness.check.expect import Verdict

    return Verdict(tuple(check_node("a", expect, Context({}, {}), seen)))


@pytest.mark.parametrize("complete", [False, True])
def test_a_forbidden_event_that_comes_late_fails(complete: bool) -> None:
    verdict = verdict_for({"drop": {"count": 0}}, LateLog(after=0.2), complete)
    assert not verdict.passed and verdict.failures()[0].observed == "1"


def test_an_exact_count_waits_for_more_events_too() -> None:
    assert not verdict_for({"drop": {"count": 0, "reason": "ttl"}}, LateLog(after=0.2)).passed


def test_a_positive_expectation_is_given_as_soon_as_it_holds() -> None:
    node = LateLog(after=0)
    assert verdict_for({"drop": {"reason": "ttl"}}, node).passed
    assert node.reads == 1


def test_a_lower_bound_alone_cannot_be_broken_by_later_lines() -> None:
    node = LateLog(after=0)
    assert verdict_for({"drop": {"count": {"min": 1}}}, node).passed and node.reads == 1
