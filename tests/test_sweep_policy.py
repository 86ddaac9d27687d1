"""What each sweep removes, decided from the labels alone (no Docker): a run's start sweeps dead owners' leftovers,
`mailhops sweep` also what `--keep` left up, and only `mailhops sweep --all` what a live run owns."""

from __future__ import annotations

import socket

import pytest

from harness.provision.labels import KEPT, OWNER, SESSION, owner, should_remove

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
