"""Collection through pytest itself: items per version, pins, filters; a malformed scenario starts nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.kinds import registry
from harness.provision.images import recipe_key
from tests.conftest import SCENARIOS

TWO_HOP = """\
nodes:
  proxy: {kind: dovecot, role: proxy, to: backend, trust: [client]}
  backend: {kind: dovecot, role: backend, trust: [proxy]}
clients:
  - to: proxy
"""


@pytest.fixture(autouse=True)
def no_docker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An unreachable engine: collecting a matrix whose versions were read on this machine before (the facts
    file) needs no Docker."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    facts = tmp_path / "facts.json"
    recipes = {recipe_key(registry.of_family(r.family).recipe(r)): {"version": VERSIONS[r.suite], "package": None}
               for r in registry.of_family("dovecot").releases}
    facts.write_text(json.dumps({"images": {}, "recipes": recipes}))
    monkeypatch.setenv("MAILHOPS_IMAGE_FACTS", str(facts))
    return facts


VERSIONS = {"bookworm": "2.3.19.1 (9b53102964)", "trixie": "2.4.1-4 (7d8c0e5759)", "forky": "2.4.5-4 (3e8a2bd07c)"}


@pytest.fixture
def scenarios_dir(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.mkdir("scenarios")
    return pytester


def collect(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "harness.pytest.plugin", "--collect-only", "-q", *args)


def test_one_item_per_version(scenarios_dir: pytest.Pytester) -> None:
    (scenarios_dir.path / "scenarios" / "two_hop.yaml").write_text(TWO_HOP)
    result = collect(scenarios_dir, "scenarios")
    result.stdout.fnmatch_lines(["scenarios/two_hop.yaml::two_hop[[]dovecot-2.3[]]",
                                 "scenarios/two_hop.yaml::two_hop[[]dovecot-2.4.1[]]",
                                 "scenarios/two_hop.yaml::two_hop[[]dovecot-2.4.5[]]", "3 tests collected*"])


def test_without_docker_and_without_known_versions_collection_says_why(scenarios_dir: pytest.Pytester,
                                                                       no_docker: Path) -> None:
    no_docker.write_text("{}")
    (scenarios_dir.path / "scenarios" / "two_hop.yaml").write_text(TWO_HOP)
    result = collect(scenarios_dir, "scenarios")
    result.stdout.fnmatch_lines(["*two_hop.yaml: the server images need a Docker engine*"])


def test_rollout_items_name_each_tier(scenarios_dir: pytest.Pytester) -> None:
    (scenarios_dir.path / "scenarios" / "roll.yaml").write_text("rollout: true\n" + TWO_HOP)
    result = collect(scenarios_dir, "scenarios")
    result.stdout.fnmatch_lines(["*roll[[]proxy=dovecot-2.4.1,backend=dovecot-2.3[]]",
                                 "*roll[[]proxy=dovecot-2.3,backend=dovecot-2.4.1[]]",
                                 "*roll[[]proxy=dovecot-2.4.5,backend=dovecot-2.4.1[]]",
                                 "*roll[[]proxy=dovecot-2.4.1,backend=dovecot-2.4.5[]]", "7 tests collected*"])
    collect(scenarios_dir, "scenarios", "--rollouts", "none").stdout.fnmatch_lines(["3 tests collected*"])


def test_pin_and_command_line_filter(scenarios_dir: pytest.Pytester) -> None:
    (scenarios_dir.path / "scenarios" / "pinned.yaml").write_text('servers: {dovecot: ["2.4"]}\n' + TWO_HOP)
    (scenarios_dir.path / "scenarios" / "free.yaml").write_text(TWO_HOP)
    result = collect(scenarios_dir, "scenarios", "--dovecot", "2.3")
    result.stdout.fnmatch_lines(["scenarios/free.yaml::free[[]dovecot-2.3[]]",
                                 "scenarios/pinned.yaml::pinned[[]no-version[]]", "2 tests collected*"])


def test_malformed_scenario_is_a_collection_error_naming_file_line_field(scenarios_dir: pytest.Pytester) -> None:
    (scenarios_dir.path / "scenarios" / "broken.yaml").write_text(TWO_HOP.replace("role: backend", "role: bakend"))
    result = scenarios_dir.runpytest_subprocess("-p", "harness.pytest.plugin", "scenarios")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*scenarios/broken.yaml:3: nodes.backend.role: Input should be 'proxy' or 'backend'*"])
    result.stdout.no_fnmatch_line("*docker*")


def test_shipped_scenarios_collect_on_every_generation(pytester: pytest.Pytester) -> None:
    result = collect(pytester, str(SCENARIOS))
    # One at a time: the items are ordered longest first (.test_durations), not by version.
    for label in ("dovecot-2.3", "dovecot-2.4.1", "dovecot-2.4.5"):
        result.stdout.fnmatch_lines([f"*imap/trusted_front.yaml::trusted_front[[]{label}[]]"])


def test_a_version_key_of_no_known_version_is_refused_at_collection(scenarios_dir: pytest.Pytester) -> None:
    (scenarios_dir.path / "scenarios" / "typo.yaml").write_text(
        TWO_HOP + "expect:\n  backend:\n    login: {rip: {dovecot-9.9: 203.0.113.7, default: \"@proxy\"}}\n")
    result = collect(scenarios_dir, "scenarios")
    result.stdout.fnmatch_lines(["*typo.yaml:8: expect.backend.login.rip: `dovecot-9.9` is no version of the matrix*"])


def test_markers_per_protocol_and_node_kind(scenarios_dir: pytest.Pytester) -> None:
    (scenarios_dir.path / "scenarios" / "two_hop.yaml").write_text(TWO_HOP)
    lmtp = TWO_HOP.replace("  - to: proxy", "  - {protocol: lmtp, to: proxy}")
    (scenarios_dir.path / "scenarios" / "lmtp.yaml").write_text(lmtp)
    result = collect(scenarios_dir, "scenarios", "-m", "lmtp")
    result.stdout.fnmatch_lines(["*lmtp.yaml::lmtp*", "3/6 tests collected*"])
    collect(scenarios_dir, "scenarios", "-m", "postfix").stdout.fnmatch_lines(["no tests collected (6 deselected)*"])
