"""The plugin's state for one pytest process, kept in `config.stash` (no module-level state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.plan.versions import Matrix, MatrixError, ServerRelease


@dataclass
class RunState:
    session: str
    """One id for the whole run (with pytest-xdist, the controller's, handed to the workers)."""
    keep: bool
    summary: str
    observations: str
    is_worker: bool
    wanted: dict[str, list[str]]
    user_images: dict[str, ServerRelease]
    packages: dict[str, str] = field(default_factory=dict)
    """family -> a Debian package version to build instead of the newest (--<family>-package)."""
    rollouts: bool | None = None
    """Rollout states: for every scenario (True), none (False), or where a scenario asks (None)."""
    records: list[dict[str, Any]] = field(default_factory=list)
    docker: Any = None
    images: Any = None
    annotate: dict[str, Any] | None = None
    releases_of: Matrix | None = None
    started: float = 0.0
    timed: list[Any] = field(default_factory=list)
    """Each finished scenario item's seconds and worker (harness.report.timing.Timed), on the controller."""
    engine_stopped: str | None = None
    """Why the Docker engine is taken for gone (an API call timed out): later items fail at once."""

    def matrix(self) -> Matrix:
        """The labelled matrix, read once per process: where a major repeats, its images tell the versions."""
        if self.releases_of is None:
            from harness.provision.images import labelled_matrix

            self.releases_of = labelled_matrix(self.packages, self.image_set)
        return self.releases_of

    def image_set(self) -> Any:
        """The images of this process (the first call sweeps what killed runs left)."""
        if self.images is None:
            import docker

            from harness.provision.images import ImageSet
            from harness.provision.labels import sweep

            try:
                client = docker.from_env(timeout=120)
                client.ping()
            except docker.errors.DockerException as exc:
                raise MatrixError(f"the server images need a Docker engine (scripts/ensure-docker.sh): {exc}") from None
            self.docker = client
            sweep(client)
            self.images = ImageSet(client)
        return self.images


STATE = pytest.StashKey[RunState]()


def state_of(config: pytest.Config) -> RunState:
    return config.stash[STATE]
