"""Expectations vs observations -> a verdict with a per-hop, per-field account. Never talks to Docker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from harness.check.matchers import COUNT, EACH, PSEUDO_FIELDS, Context, Matcher, resolve
from harness.load.scenario import SCALAR_CATEGORIES, ClientExpect, NodeExpect, Scenario
from harness.observe.events import ClientTranscript, Event, NodeObservation

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
    path: tuple[str | int, ...] = ()
    """Where the expectation stands under `expect: <node>:` in the scenario file."""
    bounded: bool = False
    """An event logged later could still make it fail (a count with an upper bound: `count: 0`, `count: 1`,
    `{max: 2}`): it holds only once the logs are complete."""


@dataclass(frozen=True)
class Verdict:
    checks: tuple[FieldCheck, ...]

    @property
    def needs_complete_logs(self) -> bool:
        """It holds now, but a later log line could turn it: it is only given once the logs are complete."""
        return any(check.bounded and check.ok for check in self.checks)

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
        checks += check_node(name, node_expect, context.for_node(name), nodes[name])
    for index, session in enumerate(scenario.clients):
        checks += check_client(index, session.expect, context.for_node(session.to), clients[index])
    return Verdict(tuple(checks))


def check_node(name: str, expect: NodeExpect, context: Context, observed: NodeObservation) -> list[FieldCheck]:
    checks: list[FieldCheck] = []
    for category in expect.given():
        if category in SCALAR_CATEGORIES:
            continue
        case = KEY_CASE.get(category, str)
        events = observed.of_kind(category)
        for prefix, wanted in expect.entries(category):
            label = category if len(prefix) == 1 else f"{category}[{prefix[1]}]"
            matchers = _resolved({key if key in PSEUDO_FIELDS else case(key): value for key, value in wanted.items()
                                  if key != EACH}, context)
            if wanted.get(EACH) is True:
                found = _each_checks(name, label, matchers, events)
            elif COUNT in matchers:
                found = [_count_check(name, label, matchers, events)]
            else:
                found = _best_event_checks(name, label, matchers, events)
            checks += [replace(check, path=(*prefix, _source_key(wanted, check.field))) for check in found]
    ttl = getattr(expect, "ttl", None)
    if ttl is not None:
        matcher = resolve(ttl, context)
        if matcher is not None:
            found = _best_event_checks(name, "ttl", {"ttl": matcher}, observed.of_kind("ttl"))
            checks += [replace(check, path=("ttl",)) for check in found]
    return checks


def _count_check(where: str, label: str, matchers: Mapping[str, Matcher], events: Sequence[Event]) -> FieldCheck:
    """`count` with other fields counts the events that match all of them: `{session: x, count: 0}` says
    no event had session x."""
    count = matchers[COUNT]
    others = {key: matcher for key, matcher in matchers.items() if key != COUNT}
    n = sum(all(m.matches(event.fields.get(key)) for key, m in others.items()) for event in events)
    expected = count.describe()
    if others:
        expected += " with " + ", ".join(f"{key}={m.describe()}" for key, m in others.items())
    return FieldCheck(where, label, COUNT, expected, str(n), count.matches(str(n)), bounded=_bounded(count))


def _bounded(count: Matcher) -> bool:
    """More events only ever raise a count: only a lower bound alone cannot be broken by a late line."""
    return not (count.kind == "present" or (count.kind == "range" and count.value[1] is None))


def _each_checks(where: str, label: str, matchers: Mapping[str, Matcher], events: Sequence[Event]) -> list[FieldCheck]:
    """`each: true`: every event has the fields (reported against the first that does not), and `count` counts
    them all (without it, at least one). A later event could break it: the checks wait for complete logs."""
    count = matchers.get(COUNT)
    fields = {key: matcher for key, matcher in matchers.items() if key != COUNT}
    checks = []
    if count is not None:
        checks.append(FieldCheck(where, label, COUNT, f"{count.describe()} (each)", str(len(events)),
                                 count.matches(str(len(events))), bounded=_bounded(count)))
    elif not events:
        checks.append(FieldCheck(where, label, COUNT, ">= 1 (each)", "0", False))
    per_event = [_event_checks(where, label, fields, event) for event in events]
    shown = next((found for found in per_event if not all(check.ok for check in found)), per_event[0] if per_event
                 else [])
    return checks + [replace(check, bounded=True) for check in shown]


def _source_key(wanted: Mapping[str, object], field: str) -> str:
    """The key as the scenario wrote it (matching is case-insensitive for ID keys and XCLIENT names)."""
    return next((key for key in wanted if key.lower() == field.lower()), field)


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
        return [FieldCheck(where, category, key, m.describe(), None, m.matches(None)) for key, m in matchers.items()]
    candidates = [_event_checks(where, category, matchers, event) for event in events]
    return max(candidates, key=lambda checks: sum(check.ok for check in checks))


def _event_checks(where: str, category: str, matchers: Mapping[str, Matcher], event: Event) -> list[FieldCheck]:
    return [
        FieldCheck(where, category, key, m.describe(), event.fields.get(key), m.matches(event.fields.get(key)))
        for key, m in matchers.items()
    ]
