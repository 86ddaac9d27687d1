"""mailhops installs beside a user's own pytest: the ranges in pyproject.toml hold down to their lower bounds."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.docker_support import docker_client

LOWEST = ROOT / "constraints-lowest.txt"


def lower_bounds() -> dict[str, str]:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    found = {}
    for requirement in dependencies:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([\w.]+)(,<[\w.]+)?", requirement)
        assert match, f"a dependency without a lower bound: {requirement}"
        found[match.group(1).lower()] = match.group(2)
    return found


def pinned_lowest() -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in LOWEST.read_text().splitlines()]
    return {name.lower(): version for name, _, version in (line.partition("==") for line in lines if line)}


def test_the_lowest_constraints_are_the_lower_bounds_of_every_dependency() -> None:
    bounds, pinned = lower_bounds(), pinned_lowest()
    assert set(bounds) == set(pinned)
    assert all(_release(pinned[name]) == _release(bounds[name]) for name in bounds), (bounds, pinned)


def _release(version: str) -> tuple[int, ...]:
    parts = [int(part) for part in version.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


@pytest.mark.docker
def test_docker_a_fresh_venv_with_the_lowest_versions_runs_a_scenario(tmp_path: Path) -> None:
    docker_client()
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", str(LOWEST), str(ROOT)],
                             capture_output=True, text=True, timeout=600, check=False)
    assert install.returncode == 0, install.stderr[-3000:]
    versions = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True, timeout=120,
                              check=True).stdout
    for name, version in pinned_lowest().items():
        assert re.search(rf"(?im)^{re.escape(name)}=={re.escape(version)}$", versions), (name, versions)
    work = tmp_path / "work"
    (work / "scenarios").mkdir(parents=True)
    shutil.copy(ROOT / "scenarios" / "operator" / "trusted_networks.yaml", work / "scenarios")
    # The installed package (not this checkout's source): from another folder, through the plugin's entry point.
    plan = subprocess.run([str(env_dir / "bin" / "mailhops"), "plan", "scenarios/trusted_networks.yaml"], cwd=work,
                          capture_output=True, text=True, timeout=120, check=False)
    assert plan.returncode == 0 and "chain: client -> p_wide" in plan.stdout, plan.stdout + plan.stderr
    run = subprocess.run([str(python), "-m", "pytest", "scenarios", "--dovecot", "2.4.1", "-q", "-p",
                          "no:cacheprovider"], cwd=work, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]
    assert sys.prefix != str(env_dir)
