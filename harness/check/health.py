"""Server health, checked in every scenario: a crash or panic in any server log fails the item, unless the
scenario declares it a known issue for these versions (then it is an xfail, and strict)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.load.scenario import KnownIssue
from harness.observe.events import NodeObservation

CRASH = re.compile(r"killed with signal|killed by signal|Panic:|Fatal:|fatal:|panic:")


@dataclass(frozen=True)
class Crash:
    node: str
    line: str


@dataclass(frozen=True)
class Health:
    """Crashes not declared (fail), declared crashes seen (xfail), declared crashes not seen (strict: fail)."""

    undeclared: tuple[Crash, ...]
    known_seen: tuple[KnownIssue, ...]
    known_missing: tuple[KnownIssue, ...]


def crashes(nodes: Mapping[str, NodeObservation]) -> list[Crash]:
    return [Crash(name, line) for name, node in nodes.items() if node.kind_is_server
            for line in node.log.splitlines() if CRASH.search(line)]


def check_health(nodes: Mapping[str, NodeObservation], issues: Sequence[KnownIssue], labels: Sequence[str]) -> Health:
    """Match each crash line against the known issues that apply to these version labels."""
    applicable = [issue for issue in issues if set(issue.servers) & set(labels)]
    found = crashes(nodes)
    undeclared = tuple(crash for crash in found if not any(_explains(issue, crash) for issue in applicable))
    seen = tuple(issue for issue in applicable if any(_explains(issue, crash) for crash in found))
    missing = tuple(issue for issue in applicable if issue not in seen)
    return Health(undeclared, seen, missing)


def _explains(issue: KnownIssue, crash: Crash) -> bool:
    return (issue.node is None or issue.node == crash.node) and re.search(issue.match, crash.line) is not None
