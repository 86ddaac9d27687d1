"""Removing a scenario's network after its containers: an engine still holding a removed container's endpoint
("has active endpoints") is waited for, stragglers are disconnected; any other refusal is raised at once."""

from __future__ import annotations

import docker
import pytest

from harness import pipeline


class _Network:
    def __init__(self, refusals: int, message: str = "error while removing network: has active endpoints"):
        self.refusals = refusals
        self.message = message
        self.attrs = {"Containers": {"c1": {}}}
        self.disconnected: list[str] = []
        self.removed = False

    def remove(self) -> None:
        if self.refusals:
            self.refusals -= 1
            raise docker.errors.APIError(self.message)
        self.removed = True

    def reload(self) -> None:
        pass

    def disconnect(self, container: str, force: bool) -> None:
        self.disconnected.append(container)


def test_active_endpoints_are_waited_for_and_disconnected() -> None:
    network = _Network(refusals=2)
    pipeline.remove_network(network)  # type: ignore[arg-type]
    assert network.removed and network.disconnected == ["c1", "c1"]


def test_another_refusal_is_raised() -> None:
    with pytest.raises(docker.errors.APIError, match="permission"):
        pipeline.remove_network(_Network(refusals=1, message="permission denied"))  # type: ignore[arg-type]


def test_endpoints_that_never_go_are_raised_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "NETWORK_REMOVE_TIMEOUT_S", 0.3)
    with pytest.raises(docker.errors.APIError, match="active endpoints"):
        pipeline.remove_network(_Network(refusals=1000))  # type: ignore[arg-type]


def test_a_stale_endpoint_is_disconnected_by_the_containers_own_names() -> None:
    """Docker's stale endpoint shows in no inspect: only the scenario's container names reach it."""
    network = _Network(refusals=1)
    network.attrs = {"Containers": {}}
    pipeline.remove_network(network, ["mailhops-chain_7-p1-abc123"])  # type: ignore[arg-type]
    assert network.removed and network.disconnected == ["mailhops-chain_7-p1-abc123"]
