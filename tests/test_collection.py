"""Collection through pytest itself: items per version, pins, filters; a malformed scenario starts nothing."""

from __future__ import annotations

import pytest

from tests.conftest import SCENARIOS

TWO_HOP = """\
nodes:
  proxy: {kind: dovecot, role: proxy, to: backend, trust: [client]}
  backend: {kind: dovecot, role: backend, trust: [proxy]}
clients:
  - to: proxy
"""


@pytest.fixture(autouse=True)
def no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreachable engine: collecting must not need Docker at all."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")


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
                                 "scenarios/two_hop.yaml::two_hop[[]dovecot-2.4[]]", "2 tests collected*"])


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


def test_shipped_scenarios_collect_on_both_versions(pytester: pytest.Pytester) -> None:
    result = collect(pytester, str(SCENARIOS))
    result.stdout.fnmatch_lines(["*imap/trusted_front.yaml::trusted_front[[]dovecot-2.3[]]",
                                 "*imap/trusted_front.yaml::trusted_front[[]dovecot-2.4[]]"])
