"""`each: true`: every event of a category at a hop has the fields, however many there are (lines whose number
varies by timing while their values do not). A wrong value in any one of them fails, naming the hop and field."""

from __future__ import annotations

from harness.check.expect import check_node
from harness.check.matchers import Context
from harness.load.scenario import node_expect_model
from harness.observe.events import Event, NodeObservation

FIELDS = {"rip": "203.0.113.7", "session": "chain7", "result": "login failed"}


def checked(expect: dict[str, object], *events: dict[str, str]) -> list[tuple[str, str, bool, str | None]]:
    model = node_expect_model().model_validate({"proxied": expect})
    observed = NodeObservation("p4", "dovecot 2.4.1 proxy", tuple(Event("proxied", fields) for fields in events))
    return [(check.where, check.field, check.ok, check.observed)
            for check in check_node("p4", model, Context({}, {}), observed)]


def test_every_event_must_match_and_the_first_that_does_not_is_reported() -> None:
    expect = {**FIELDS, "each": True, "count": {"max": 2}}
    assert all(ok for _, _, ok, _ in checked(expect, FIELDS, FIELDS))
    failures = [c for c in checked(expect, FIELDS, {**FIELDS, "rip": "10.0.0.1"}) if not c[2]]
    assert failures == [("p4", "rip", False, "10.0.0.1")]


def test_without_each_one_matching_event_is_enough_and_a_count_range_hides_a_changed_value() -> None:
    assert all(ok for _, _, ok, _ in checked({**FIELDS}, FIELDS, {**FIELDS, "rip": "10.0.0.1"}))
    # The reason for `each`: counting the matching events in 0..2 passes when the value changed.
    assert all(ok for _, _, ok, _ in checked({**FIELDS, "count": {"max": 2}}, {**FIELDS, "rip": "10.0.0.1"}))
    assert not all(ok for _, _, ok, _ in checked({**FIELDS, "each": True, "count": {"max": 2}},
                                                 {**FIELDS, "rip": "10.0.0.1"}))


def test_the_count_counts_every_event() -> None:
    assert [c for c in checked({**FIELDS, "each": True, "count": 1}, FIELDS, FIELDS) if not c[2]] == [
        ("p4", "count", False, "2")]
    assert all(ok for _, _, ok, _ in checked({**FIELDS, "each": True, "count": {"max": 2}}))


def test_without_a_count_at_least_one_event() -> None:
    assert [c for c in checked({**FIELDS, "each": True})] == [("p4", "count", False, "0")]


def test_each_waits_for_complete_logs() -> None:
    model = node_expect_model().model_validate({"proxied": {**FIELDS, "each": True}})
    observed = NodeObservation("p4", "d", (Event("proxied", FIELDS),))
    assert all(check.bounded for check in check_node("p4", model, Context({}, {}), observed))
