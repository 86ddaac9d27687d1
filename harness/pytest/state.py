"""The plugin's state for one pytest process, kept in `config.stash` (no module-level state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.plan.versions import ServerRelease


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
    records: list[dict[str, Any]] = field(default_factory=list)
    docker: Any = None
    images: Any = None
    annotate: dict[str, Any] | None = None


STATE = pytest.StashKey[RunState]()


def state_of(config: pytest.Config) -> RunState:
    return config.stash[STATE]
