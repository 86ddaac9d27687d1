"""Helpers for the tests that need a Docker engine: they fail (not skip) without one, unless told to skip."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import docker
import pytest
import yaml

from tests.conftest import SCENARIOS


def docker_client() -> docker.DockerClient:
    if os.environ.get("MAILHOPS_SKIP_DOCKER_TESTS") == "1":
        pytest.skip("MAILHOPS_SKIP_DOCKER_TESTS=1")
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"these tests need a Docker engine (scripts/ensure-docker.sh): {exc}")
    return client


def shipped(name: str) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text())


def write(folder: Path, name: str, data: dict) -> None:  # type: ignore[type-arg]
    (folder / "scenarios").mkdir(exist_ok=True)
    (folder / "scenarios" / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def run_scenarios(folder: Path) -> dict[str, str | None]:
    """Run the scenarios under folder/scenarios through pytest (as a user would) -> failure text per item."""
    junit = folder / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-p", "harness.pytest.plugin", "scenarios", "-n", "2",
                    f"--junitxml={junit}", "-q", "-p", "no:cacheprovider"],
                   cwd=folder, capture_output=True, text=True, timeout=1200, check=False,
                   env={**os.environ, "MAILHOPS_SETTLE_TIMEOUT": "4"})
    return failures_by_item(junit)


def hop_section(text: str, hop: str) -> list[str]:
    """The indented lines under `hop <name> [...]:` (or `<name>:`) in a failure text; [] if there is none."""
    lines = text.splitlines()
    header = next((i for i, line in enumerate(lines) if line.startswith((f"hop {hop} [", f"{hop}:"))), None)
    if header is None:
        return []
    end = next((i for i in range(header + 1, len(lines)) if not lines[i].startswith("  ")), len(lines))
    return lines[header + 1:end]


def has_fail_line(text: str, hop: str, field: str) -> bool:
    return any(line.startswith("  FAIL") and f" {field} " in line for line in hop_section(text, hop))


def failures_by_item(junit: Path) -> dict[str, str | None]:
    """testcase name -> failure text (None when it passed)."""
    results: dict[str, str | None] = {}
    for case in ElementTree.parse(junit).iter("testcase"):
        failure = case.find("failure")
        results[case.attrib["name"]] = None if failure is None else (failure.text or failure.attrib["message"])
    return results
