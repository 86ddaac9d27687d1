"""Expected values in scenarios, turned into matchers: pure code shared by loading (shape) and checking."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.plan.versions import version_labels

MATCHER_KEYS = {"regex", "one_of", "absent", "present", "not", "min", "max"}
COUNT = "count"
"""A pseudo-field in any category: how many such events the node showed (`drop: {count: 0}`); with other
fields beside it, how many events matched them all."""
EACH = "each"
"""A pseudo-field: `each: true` says every such event at the node has the fields beside it, however many there
are (`count` then counts them all): for lines whose number varies by timing while their values do not."""
PSEUDO_FIELDS = {COUNT, EACH, "service"}
"""Fields the harness adds to events or expectations, written in lower case whatever the category."""
RANGE_KEYS = {"min", "max"}


def version_label_re() -> re.Pattern[str]:
    """`<family>-<version>` for the registered server families (`dovecot-2.4`, `postfix-3.10`, ...)."""
    from harness.kinds.registry import families

    return re.compile(rf"^({'|'.join(map(re.escape, families()))})-\d+(\.\d+)*$")


@dataclass(frozen=True)
class Context:
    """What a matcher may refer to: node addresses (`@name`) and the server versions of this run."""

    addresses: Mapping[str, str]
    versions: Mapping[str, str]
    """family -> version of the run; in a rollout state, of the node being checked (see `for_node`)."""
    node_versions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """node -> family -> version of every server node (a hop of the harness's own: of its sender)."""
    servers: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """server node -> family -> its version: for keys naming a node (`backend:dovecot-2.3`)."""

    def for_node(self, name: str) -> Context:
        """The context of expectations at one node: version keys match that node's version."""
        if name not in self.node_versions:
            return self
        return Context(self.addresses, {**self.versions, **self.node_versions[name]}, self.node_versions,
                       self.servers)

    def all_labels(self) -> list[str]:
        """The version labels of every node of the run (known issues apply where any node matches)."""
        labels = self.version_labels()
        for name in self.node_versions:
            labels += [label for label in self.for_node(name).version_labels() if label not in labels]
        return labels

    def version_labels(self) -> list[str]:
        """The keys a version map is looked up by, first found wins: `<node>:dovecot-2.3` (what another server
        of the run runs, for what depends on both ends of a link), then `dovecot-2.4.1`, `dovecot-2.4`,
        `dovecot-2`: most specific first."""
        named = [f"{node}:{label}" for node, versions in self.servers.items() for label in _labels(versions)]
        return named + _labels(self.versions)


def _labels(versions: Mapping[str, str]) -> list[str]:
    return [label for family, version in versions.items() for label in version_labels(family, version)]


@dataclass(frozen=True)
class Matcher:
    """A resolved expectation for one observed value (None = the value was not observed at all)."""

    kind: str
    value: Any = None

    def matches(self, observed: str | None) -> bool:
        if self.kind == "unresolved":
            return False
        if self.kind == "absent":
            return observed is None
        if observed is None:
            return False
        if self.kind == "present":
            return True
        if self.kind == "regex":
            return re.fullmatch(self.value, observed) is not None
        if self.kind == "one_of":
            return observed in self.value
        if self.kind == "not":
            return observed != self.value
        if self.kind == "range":
            return _in_range(observed, *self.value)
        return observed == self.value

    def describe(self) -> str:
        if self.kind == "unresolved":
            return f"({self.value})"
        if self.kind == "absent":
            return "(absent)"
        if self.kind == "present":
            return "(present)"
        if self.kind == "regex":
            return f"/{self.value}/"
        if self.kind == "one_of":
            return "one of " + ", ".join(self.value)
        if self.kind == "not":
            return f"not {self.value}"
        if self.kind == "range":
            low, high = self.value
            return " and ".join(part for part in (f">= {low}" if low is not None else "",
                                                  f"<= {high}" if high is not None else "") if part)
        return self.value


def shape_problem(expected: Any, node_names: set[str]) -> str | None:
    """Why `expected` is not a valid expectation, or None when it is."""
    if isinstance(expected, bool) or not isinstance(expected, (str, int, dict)):
        return "expected a string, a number or a mapping"
    if isinstance(expected, str) and expected.startswith("@") and expected[1:].removesuffix(".v6") not in (
            node_names | {"client"}):
        return f"`{expected}` names no node (use @<node>, @client, or @<node>.v6 for its IPv6 address)"
    if not isinstance(expected, dict):
        return None
    keys = set(expected)
    if not keys:
        return "an empty mapping checks nothing: give a value, a matcher or version keys"
    if keys <= RANGE_KEYS:
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in expected.values()):
            return "min and max take numbers"
        if len(keys) == 2 and expected["min"] > expected["max"]:
            return f"min {expected['min']} is above max {expected['max']}: no value can match"
        return None
    if keys & MATCHER_KEYS:
        if len(keys) != 1:
            return f"a matcher has exactly one of {sorted(MATCHER_KEYS)}"
        return _matcher_problem(next(iter(keys)), expected[next(iter(keys))])
    for key, value in expected.items():
        node, _, label = str(key).rpartition(":")
        if key != "default" and (not version_label_re().match(label) or (node and node not in node_names)):
            return (f"`{key}` is neither a matcher ({', '.join(sorted(MATCHER_KEYS))}) "
                    "nor a version key such as <family>-<version> (of a server kind), "
                    "<node>:<family>-<version> or default")
        problem = shape_problem(value, node_names)
        if problem:
            return f"{key}: {problem}"
    return None


def _matcher_problem(key: str, value: Any) -> str | None:
    if key == "regex":
        if not isinstance(value, str):
            return "regex takes a string"
        try:
            re.compile(value)
        except re.error as exc:
            return f"bad regex: {exc}"
    if key == "one_of" and not (isinstance(value, list) and value):
        return "one_of takes a non-empty list"
    if key == "not" and (isinstance(value, (bool, dict, list)) or value is None):
        return "not takes a single value"
    if key in ("absent", "present") and value is not True:
        return f"write `{key}: true`"
    return None


def resolve(expected: Any, context: Context) -> Matcher | None:
    """The matcher for this run; a version map with no entry for these versions gives one that fails, naming
    the versions and the keys."""
    if isinstance(expected, dict):
        if expected and set(expected) <= RANGE_KEYS:
            return Matcher("range", (expected.get("min"), expected.get("max")))
        if "regex" in expected:
            return Matcher("regex", expected["regex"])
        if "one_of" in expected:
            return Matcher("one_of", tuple(_text(v, context) for v in expected["one_of"]))
        if "absent" in expected:
            return Matcher("absent")
        if "present" in expected:
            return Matcher("present")
        if "not" in expected:
            return Matcher("not", _text(expected["not"], context))
        for label in [*context.version_labels(), "default"]:
            if label in expected:
                return resolve(expected[label], context)
        # A typo (dovecot-9.9) or a version added to the matrix later must not pass unchecked.
        running = ", ".join(label for label in context.version_labels() if ":" not in label)
        return Matcher("unresolved", f"no value for this version ({running}): the keys are {', '.join(expected)}")
    return Matcher("equals", _text(expected, context))


def _in_range(observed: str, low: float | None, high: float | None) -> bool:
    try:
        number = float(observed)
    except ValueError:
        return False
    return (low is None or number >= low) and (high is None or number <= high)


def _text(value: Any, context: Context) -> str:
    text = str(value)
    if text.startswith("@"):
        return context.addresses[text[1:]]
    return text


def unknown_version_keys(expected: Any, known: set[str]) -> list[str]:
    """The version keys of an expected value (nested too) that name no version the run can have: `known` holds
    every label of the matrix (`dovecot-2`, `dovecot-2.4`, `dovecot-2.4.1`, ...)."""
    if not isinstance(expected, dict) or set(expected) & (MATCHER_KEYS | RANGE_KEYS):
        return []
    found = []
    for key, value in expected.items():
        label = str(key).rpartition(":")[2]
        if key != "default" and label not in known:
            found.append(str(key))
        found += unknown_version_keys(value, known)
    return found
