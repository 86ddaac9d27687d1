"""Expectations vs observations -> a verdict with a per-hop, per-field account. Never talks to Docker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.matchers import Context, Matcher, resolve
from harness.observations import ClientTranscript, Event, NodeObservation
from harness.scenario import ClientExpect, NodeExpect, Scenario

CATEGORIES = ("login", "proxied", "auth", "forward", "id", "xclient", "delivery", "client", "recipient", "disconnect")
COUNT = "count"
"""A pseudo-field in any category: how many such events the node showed (`drop: {count: 0}`)."""
KEY_CASE = {"id": str.lower, "xclient": str.upper}
"""ID keys are case-insensitive (compared lower-case), XCLIENT attribute names are compared upper-case."""


@dataclass(frozen=True)
class FieldCheck:
    """One expected field at one place: node `where` (or `client[i]`), category, field."""

    where: str
    category: str
    field: str
    expected: str
    observed: str | None
    ok: bool


@dataclass(frozen=True)
class Verdict:
    checks: tuple[FieldCheck, ...]

    @property
    def passed(self) -> bool:
        return all(check.ok for check in self.checks)

    def failures(self) -> list[FieldCheck]:
        return [check for check in self.checks if not check.ok]


def check_scenario(
    scenario: Scenario,
    context: Context,
    nodes: Mapping[str, NodeObservation],
    clients: Sequence[ClientTranscript],
) -> Verdict:
    """Every expectation of the scenario, checked against what was observed in this run."""
    checks: list[FieldCheck] = []
    for name, node_expect in scenario.expect.items():
        checks += check_node(name, node_expect, context, nodes[name])
    for index, session in enumerate(scenario.clients):
        checks += check_client(index, session.expect, context, clients[index])
    return Verdict(tuple(checks))


def check_node(name: str, expect: NodeExpect, context: Context, observed: NodeObservation) -> list[FieldCheck]:
    checks: list[FieldCheck] = []
    for category in CATEGORIES:
        wanted = getattr(expect, category)
        if wanted is None:
            continue
        case = KEY_CASE.get(category, str)
        matchers = _resolved({key if key == COUNT else case(key): value for key, value in wanted.items()}, context)
        events = observed.of_kind(category)
        if COUNT in matchers:
            count = matchers.pop(COUNT)
            checks.append(FieldCheck(name, category, COUNT, count.describe(), str(len(events)),
                                     count.matches(str(len(events)))))
        checks += _best_event_checks(name, category, matchers, events)
    if expect.ttl is not None:
        matcher = resolve(expect.ttl, context)
        if matcher is not None:
            checks += _best_event_checks(name, "ttl", {"ttl": matcher}, observed.of_kind("ttl"))
    return checks


def check_client(index: int, expect: ClientExpect, context: Context, transcript: ClientTranscript) -> list[FieldCheck]:
    wanted = {key: value for key, value in expect if value is not None}
    matchers = _resolved(wanted, context)
    where = f"client[{index}] -> {transcript.to}"
    checks = []
    for key, matcher in matchers.items():
        observed = transcript.replies.get(key)
        checks.append(FieldCheck(where, "reply", key, matcher.describe(), observed, matcher.matches(observed)))
    return checks


def _resolved(wanted: Mapping[str, object], context: Context) -> dict[str, Matcher]:
    resolved = {key: resolve(value, context) for key, value in wanted.items()}
    return {key: m for key, m in resolved.items() if m is not None}


def _best_event_checks(
    where: str, category: str, matchers: Mapping[str, Matcher], events: Sequence[Event]
) -> list[FieldCheck]:
    """Pass if one event matches every field; otherwise report against the event that matched most."""
    if not matchers:
        return []
    if not events:
        return [FieldCheck(where, category, key, m.describe(), None, False) for key, m in matchers.items()]
    candidates = [_event_checks(where, category, matchers, event) for event in events]
    return max(candidates, key=lambda checks: sum(check.ok for check in checks))


def _event_checks(where: str, category: str, matchers: Mapping[str, Matcher], event: Event) -> list[FieldCheck]:
    return [
        FieldCheck(where, category, key, m.describe(), event.fields.get(key), m.matches(event.fields.get(key)))
        for key, m in matchers.items()
    ]
