"""What each sweep removes, decided from the labels alone (no Docker): a run's start sweeps dead owners' leftovers,
`mailhops sweep` also what `--keep` left up, and only `mailhops sweep --all` what a live run owns."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import docker.errors
import pytest

from harness.provision.labels import KEPT, OWNER, SESSION, owner, should_remove, sweep

LIVE = {SESSION: "s1", OWNER: owner()}
DEAD = {SESSION: "s2", OWNER: "host-that-is-gone:1"}
KEPT_LIVE = {**LIVE, KEPT: "1"}


def dead_owner() -> dict[str, str]:
    return {SESSION: "s3", OWNER: f"{socket.gethostname()}:999999999"}  # no such pid


@pytest.mark.parametrize(("labels", "run_start", "command", "command_all"), [
    (LIVE, False, False, True),
    (KEPT_LIVE, False, True, True),
    (DEAD, False, False, True),          # another host's: not ours to judge
])
def test_who_removes_what(labels: dict[str, str], run_start: bool, command: bool, command_all: bool) -> None:
    assert should_remove(labels, None, everything=False, with_kept=False) is run_start
    assert should_remove(labels, None, everything=False, with_kept=True) is command
    assert should_remove(labels, None, everything=True, with_kept=True) is command_all


def test_a_dead_owner_on_this_host_is_swept_by_every_sweep() -> None:
    labels = dead_owner()
    assert should_remove(labels, None, everything=False, with_kept=False)
    assert should_remove(labels, None, everything=False, with_kept=True)


def test_a_session_sweeps_only_its_own() -> None:
    assert should_remove(LIVE, "s1", everything=False, with_kept=False)
    assert not should_remove(LIVE, "other", everything=False, with_kept=False)


class _Engine:
    """The low-level API calls sweep makes; removing the first container is refused as already in progress."""

    def __init__(self, refusal: docker.errors.APIError):
        self.refusal = refusal
        self.removed: list[str] = []

    def containers(self, all: bool, filters: dict[str, str]) -> list[dict[str, object]]:  # noqa: A002 - the SDK's
        return [{"Id": "busy", "Labels": DEAD}, {"Id": "idle", "Labels": DEAD}]

    def networks(self, filters: dict[str, str]) -> list[dict[str, object]]:
        return []

    def remove_container(self, container: str, force: bool, v: bool) -> None:
        if container == "busy":
            raise self.refusal
        self.removed.append(container)


def _refusal(status: int, text: str) -> docker.errors.APIError:
    return docker.errors.APIError(text, response=SimpleNamespace(status_code=status, reason=text))  # type: ignore[arg-type]


def test_a_container_already_being_removed_is_left_to_that_removal() -> None:
    engine = _Engine(_refusal(409, "removal of container busy is already in progress"))
    assert sweep(SimpleNamespace(api=engine), everything=True) == 1  # type: ignore[arg-type]
    assert engine.removed == ["idle"]


def test_any_other_refusal_is_raised() -> None:
    with pytest.raises(docker.errors.APIError):
        sweep(SimpleNamespace(api=_Engine(_refusal(500, "driver failed"))), everything=True)  # type: ignore[arg-type]
