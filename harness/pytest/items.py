"""Scenario files as pytest collectors, one item per server combination."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests.exceptions

from harness.load.scenario import Scenario, ScenarioError, load_scenario, unknown_version_key_problems
from harness.plan.versions import Combination, MatrixError, known_labels, selected_combinations
from harness.provision.images import ImageError
from harness.pytest.state import state_of


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            scenario = load_scenario(self.path)
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        state = state_of(self.config)
        try:
            releases_of = state.matrix()
        except (MatrixError, ImageError, ValueError) as exc:
            raise self.CollectError(f"{self.path}: {exc}") from None
        problems = unknown_version_key_problems(scenario, known_labels(releases_of, state.user_images))
        if problems:
            raise self.CollectError("\n".join(problems))
        combos = selected_combinations(scenario, state.wanted, state.user_images, releases_of, state.rollouts)
        if not combos:
            yield ScenarioItem.from_parent(self, name=f"{self.path.stem}[no-version]", scenario=scenario, combo=None)
        for combo in combos:
            yield ScenarioItem.from_parent(self, name=f"{self.path.stem}[{combo.label}]", scenario=scenario,
                                           combo=combo)


ENGINE_GONE = (requests.exceptions.Timeout, requests.exceptions.ConnectionError)
"""What the Docker SDK raises when the engine does not answer within the client's timeout (120 s) or at all."""


class ScenarioFailure(Exception):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, combo: Combination | None, **kwargs: Any):
        super().__init__(**kwargs)
        self.scenario = scenario
        self.combo = combo
        self.user_properties.append(("scenario", scenario.name))
        if combo is not None:
            self.user_properties.append(("servers", combo.label))
        self.user_properties.append(("nodes", ",".join(scenario.nodes)))
        for name in markers_of(scenario):
            self.add_marker(name)

    @property
    def label(self) -> str:
        return self.combo.label if self.combo else "no-version"

    def runtest(self) -> None:
        if self.combo is None:
            pytest.skip("no server version of the matrix is selected for this scenario")
        from harness.pipeline import ScenarioRun
        from harness.report.failure import failure_text

        state = state_of(self.config)
        if state.engine_stopped:
            raise ScenarioFailure(f"not run: {state.engine_stopped}")
        run = ScenarioRun(self.scenario, self.combo, state.image_set(), state.session, self.nodeid,
                          keep=state.keep, complete_logs=bool(state.observations))
        try:
            result = run.execute()
        except ENGINE_GONE as exc:
            state.engine_stopped = (f"the Docker engine stopped answering ({type(exc).__name__}: {exc}); this "
                                    "process's remaining items fail without running (restart dockerd; Docker 20.10 "
                                    "can deadlock in its network code, moby/moby#46661)")
            raise ScenarioFailure(f"{self.nodeid}: {state.engine_stopped}") from None
        if state.keep:
            print(_keep_text(run, result.plan))
        for family, version in result.server_versions.items():
            self.user_properties.append((f"{family}_version", version))
        self.user_properties.append(("node_versions", ",".join(
            f"{name}={result.plan.scenario.nodes[name].kind}-{version}"
            for name in result.plan.nodes if (version := result.plan.version_of(name)))))
        outcome = "failed" if not result.passed else "xfailed" if result.health.known_seen else "passed"
        if state.observations:
            from harness.report.record import item_record

            state.records.append(item_record(result, self.nodeid, self.label, outcome))
        if not result.passed:
            raise ScenarioFailure(failure_text(result, self.label))
        if result.health.known_seen:
            pytest.xfail("known issue: " + "; ".join(issue.reason for issue in result.health.known_seen))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailure):
            return excinfo.value.text
        from harness.provision.container import NodeStartError
        from harness.provision.images import ImageError

        if isinstance(excinfo.value, (NodeStartError, ImageError)):
            return f"{self.scenario.name} [{self.label}]: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario {self.scenario.name} [{self.label}]"


def markers_of(scenario: Scenario) -> list[str]:
    """`-m lmtp`, `-m postfix`, `-m haproxy`: the protocols its sessions and hops speak, its kinds of node."""
    protocols = {session.protocol for session in scenario.clients}
    protocols |= {protocol for node in scenario.nodes.values() for protocol in node.protocols()}
    return sorted(protocols | {node.kind for node in scenario.nodes.values()})


def _keep_text(run: Any, the_plan: Any) -> str:
    from harness.report.reach import keep_text

    return keep_text(the_plan, {name: container.docker_name for name, container in run.containers.items()})
