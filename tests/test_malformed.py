"""A corpus of malformed scenarios (tests/malformed/, one defect each, the expected message on the first line
as `# expect: <line>: <message>`): each is one clear error naming the file, the line and the field, within a
second, never a traceback or a hang, and collecting it starts nothing (there is no Docker engine to start it)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.load.scenario import ScenarioError, load_scenario
from tests.conftest import ROOT

HANG_S = 10.0
CORPUS = sorted((ROOT / "tests" / "malformed").glob("*.yaml"))


def expected(path: Path) -> tuple[int, str]:
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    line, _, message = first.removeprefix("# expect: ").partition(": ")
    return int(line), message


@pytest.mark.parametrize("path", CORPUS, ids=[path.stem for path in CORPUS])
def test_each_defect_is_one_clear_error_at_its_line(path: Path) -> None:
    line, message = expected(path)
    started = time.monotonic()
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    # A guard against a hang (an alias bomb used to grow without bound), not a speed test: on a loaded machine a
    # well-behaved load has taken over a second.
    assert time.monotonic() - started < HANG_S
    assert f"{path}:{line}: " in str(caught.value) and message in str(caught.value), str(caught.value)


def test_the_corpus_holds_every_kind_of_defect() -> None:
    assert len(CORPUS) >= 15


def test_plan_exits_2_for_each_and_prints_no_traceback() -> None:
    run = subprocess.run([sys.executable, "-m", "harness", "plan", *map(str, CORPUS)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.stderr.count(str(ROOT / "tests" / "malformed")) >= len(CORPUS)


def test_collecting_them_starts_nothing(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    folder = pytester.mkdir("scenarios")
    for path in CORPUS:
        (folder / path.name).write_bytes(path.read_bytes())
    result = pytester.runpytest_subprocess("-p", "harness.pytest.plugin", "--collect-only", "-q", "scenarios")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert result.stdout.str().count("ERROR scenarios/") == len(CORPUS)
    result.stdout.no_fnmatch_line("*Traceback*")
