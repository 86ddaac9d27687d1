"""The log barriers on real servers, every release of the matrix: with complete logs asked for (as an observations
file does), each node of a chain is found complete by its own barrier (Dovecot's and Postfix's probe close, the
relay's mark), the item passes, and none of the barrier's own lines reaches the observation; a ring is left to the
quiet rule."""

from __future__ import annotations

import uuid

import pytest

from harness.kinds.relay.kind import MARK
from harness.load.scenario import load_scenario
from harness.pipeline import ScenarioRun
from harness.plan.versions import Combination
from harness.provision.images import ImageSet, labelled_matrix
from harness.provision.labels import sweep
from harness.provision.probe import probe_line_pattern
from tests.conftest import SCENARIOS
from tests.docker_support import docker_client

CHAINS = {"dovecot": "imap/trusted_front", "postfix": "postfix/xclient_trusted"}


def run_complete(scenario_name: str, family: str) -> list[ScenarioRun]:
    """One run of the scenario per release of `family`, complete logs asked for."""
    client = docker_client()
    images = ImageSet(client)
    scenario = load_scenario(SCENARIOS / f"{scenario_name}.yaml")
    session = f"test-barrier-{uuid.uuid4().hex[:8]}"
    runs = []
    try:
        for release in labelled_matrix(image_set=lambda: images)[family]:
            run = ScenarioRun(scenario, Combination((release,)), images, session, f"test:{scenario_name}",
                              complete_logs=True)
            result = run.execute()
            assert result.passed, f"{scenario_name} on {release.label}: {result.verdict.failures()}"
            for name, node in result.nodes.items():
                container = run.containers[name]
                if scenario.nodes[name].kind == "relay":
                    assert MARK in container.log() and MARK not in node.log, name
                    continue
                own = probe_line_pattern(container.probes)
                assert own is not None and own.search(container.log()), f"{name}: no probe line in its log"
                assert not own.search(node.log), f"{name}: a probe's line reached the observation"
            runs.append(run)
    finally:
        sweep(client, only_session=session)
    return runs


@pytest.mark.parametrize("family", sorted(CHAINS))
def test_every_node_of_a_chain_is_complete_by_its_barrier(family: str) -> None:
    for run in run_complete(CHAINS[family], family):
        assert run.complete_by_barrier == frozenset(run.scenario.nodes), run.combination


def test_a_ring_is_left_to_the_quiet_rule() -> None:
    for run in run_complete("loops/imap_ring_2", "dovecot"):
        assert run.complete_by_barrier == frozenset()
