"""On the real engine: a scenario's starts take their endpoint turns through testcontainers' start, each turn
ended by the engine's own `connect` event for that container (so the event filter matches what the engine
sends, and starts still overlap), and its removal disconnects every container in turn; the item passes and
nothing is left."""

from __future__ import annotations

import uuid

import pytest

from harness import pipeline
from harness.load.scenario import load_scenario
from harness.plan.versions import Combination
from harness.provision.endpoints import EndpointTurns
from harness.provision.images import ImageSet, labelled_matrix
from harness.provision.labels import sweep
from tests.conftest import SCENARIOS
from tests.docker_support import docker_client


class _CountedTurns(EndpointTurns):
    made: list[_CountedTurns] = []

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.created: list[str] = []
        self.deleted = 0
        _CountedTurns.made.append(self)

    def creating(self, container_id, call):  # type: ignore[no-untyped-def]
        self.created.append(container_id)
        return super().creating(container_id, call)

    def deleting(self, call):  # type: ignore[no-untyped-def]
        self.deleted += 1
        return super().deleting(call)


def test_a_scenario_takes_its_endpoint_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    client = docker_client()
    images = ImageSet(client)
    monkeypatch.setattr(pipeline, "EndpointTurns", _CountedTurns)
    _CountedTurns.made = []
    scenario = load_scenario(SCENARIOS / "imap/trusted_front.yaml")
    release = labelled_matrix(image_set=lambda: images)["dovecot"][0]
    session = f"test-turns-{uuid.uuid4().hex[:8]}"
    try:
        run = pipeline.ScenarioRun(scenario, Combination((release,)), images, session, "test:turns")
        result = run.execute()
        assert result.passed, result.verdict.failures()
        ids = sorted(container._container.get_wrapped_container().id for container in run.containers.values())
    finally:
        sweep(client, only_session=session)
    starting, removing = _CountedTurns.made
    assert sorted(starting.created) == ids
    assert starting.ended_by_event == len(ids), "the engine's connect events did not end the turns"
    assert removing.deleted == len(ids)
    assert not client.containers.list(all=True, filters={"label": f"mailhops.session={session}"})
    assert not client.networks.list(filters={"label": f"mailhops.session={session}"})
