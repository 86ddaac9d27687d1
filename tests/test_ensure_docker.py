"""scripts/ensure-docker.sh against stand-in `docker`, `dockerd` and `pgrep` commands (no engine touched): an
engine that answers is left alone; a dockerd that runs without answering yet is waited for, not doubled, whether
it comes up or goes away (then a new one is started); one that never answers fails with the log's tail."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ensure-docker.sh"

# Each stand-in counts its calls in STATE; `docker` answers once STATE/answers exists.
DOCKER = """#!/bin/sh
n=$(( $(cat "$STATE/docker.calls" 2>/dev/null || echo 0) + 1 )); echo $n > "$STATE/docker.calls"
[ -n "${ANSWER_AFTER:-}" ] && [ "$n" -ge "$ANSWER_AFTER" ] && touch "$STATE/answers"
[ -e "$STATE/answers" ] || exit 1
[ "$1" = version ] && echo 99.0
exit 0
"""
DOCKERD = """#!/bin/sh
(cat "$STATE/pgrep.calls" 2>/dev/null || echo 0) >> "$STATE/dockerd.runs"  # pgrep calls so far
echo "dockerd: starting"
[ -n "${NEW_NEVER_ANSWERS:-}" ] || touch "$STATE/answers"
"""
PGREP = """#!/bin/sh
n=$(( $(cat "$STATE/pgrep.calls" 2>/dev/null || echo 0) + 1 )); echo $n > "$STATE/pgrep.calls"
[ -n "${OLD_RUNS_FOR:-}" ] && [ "$n" -le "$OLD_RUNS_FOR" ]
"""


def run(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, text in {"docker": DOCKER, "dockerd": DOCKERD, "pgrep": PGREP}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    environment = {"PATH": f"{bin_dir}:/usr/bin:/bin", "STATE": str(state), "MAILHOPS_DOCKER_TIMEOUT": "4",
                   "MAILHOPS_DOCKERD_LOG": str(tmp_path / "dockerd.log"), **env}
    result = subprocess.run(["bash", str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=30)
    return result, state


def starts(state: Path) -> int:
    runs = state / "dockerd.runs"
    return len(runs.read_text().splitlines()) if runs.exists() else 0


@pytest.fixture(autouse=True)
def _as_root() -> None:
    if os.getuid() != 0:
        pytest.skip("the script starts dockerd through sudo when not root")


def test_an_engine_that_answers_is_left_alone(tmp_path: Path) -> None:
    result, state = run(tmp_path, ANSWER_AFTER="1")
    assert result.returncode == 0 and "already answers" in result.stdout
    assert starts(state) == 0


def test_a_dockerd_coming_up_is_waited_for_not_doubled(tmp_path: Path) -> None:
    result, state = run(tmp_path, OLD_RUNS_FOR="100", ANSWER_AFTER="3")
    assert result.returncode == 0, result.stderr
    assert "waiting for it to answer or stop" in result.stdout and "engine answers (99.0)" in result.stdout
    assert starts(state) == 0


def test_a_dockerd_going_away_is_waited_for_then_a_new_one_starts(tmp_path: Path) -> None:
    result, state = run(tmp_path, OLD_RUNS_FOR="3")
    assert result.returncode == 0, result.stderr
    assert "waiting for it to answer or stop" in result.stdout and "starting dockerd" in result.stdout
    assert (state / "dockerd.runs").read_text().split() == ["4"], "not started once, just after the old one went"


def test_a_dockerd_that_neither_answers_nor_stops_fails(tmp_path: Path) -> None:
    result, state = run(tmp_path, OLD_RUNS_FOR="1000")
    assert result.returncode == 1 and "neither answered nor stopped within 4s" in result.stderr
    assert starts(state) == 0


def test_a_new_dockerd_that_never_answers_fails_with_its_log(tmp_path: Path) -> None:
    result, state = run(tmp_path, NEW_NEVER_ANSWERS="1")
    assert result.returncode == 1 and "did not answer within 4s" in result.stderr
    assert "dockerd: starting" in result.stderr
    assert starts(state) == 1
