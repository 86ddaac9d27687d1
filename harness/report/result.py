"""What one run of a scenario hands the report stage: plain values, no Docker."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.check.expect import Verdict
from harness.check.health import Health
from harness.observe.events import ClientTranscript, NodeObservation
from harness.plan.topology import Plan


@dataclass(frozen=True)
class RunResult:
    plan: Plan
    server_versions: Mapping[str, str]
    verdict: Verdict
    nodes: Mapping[str, NodeObservation]
    clients: tuple[ClientTranscript, ...]
    duration_s: float
    health: Health = Health((), (), ())

    @property
    def passed(self) -> bool:
        """Every expectation held, no undeclared crash, and every declared crash happened."""
        return self.verdict.passed and not self.health.undeclared and not self.health.known_missing
