"""The node-kind interface is real: a kind defined outside the harness package (tests/extension_kind, an SMTP
sink) is registered without editing any harness module, and scenarios use it like a built-in kind: its model,
its expectation keys, its version family, its image, its container, its readiness probe and its log parser."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.kinds import registry
from harness.load.scenario import ScenarioError, load_scenario
from harness.plan.versions import selected_combinations
from tests.conftest import ROOT, WriteScenario
from tests.docker_support import docker_client, failures_by_item, has_fail_line

SCENARIO = """\
nodes:
  front:
    kind: relay
    mode: inject
    protocol: smtp
    to: sink
    xclient: {ADDR: 203.0.113.7, LOGIN: alice}
  sink:
    kind: sink
clients:
  - protocol: smtp
    to: front
    expect: {greeting: "220", greeting_reply: "220 sink ESMTP"}
expect:
  sink:
    line:
      - {verb: XCLIENT, args: "ADDR=203.0.113.7 LOGIN=alice"}
      - {verb: EHLO, args: client.example}
"""


@pytest.fixture
def sink_kind() -> Iterator[None]:
    import tests.extension_kind as extension

    registry.register(extension.KIND)
    yield
    registry.unregister("sink")


def test_a_registered_kind_is_loaded_and_planned(sink_kind: None, write_scenario: WriteScenario) -> None:
    scenario = load_scenario(write_scenario(SCENARIO))
    assert scenario.families() == ["sink"]
    assert [combo.label for combo in selected_combinations(scenario, {})] == ["sink-1.0"]
    pinned = load_scenario(write_scenario('servers: {sink: ["1.0"]}\n' + SCENARIO, name="pinned"))
    assert pinned.pins() == {"sink": ("1.0",)}


def test_a_registered_kind_has_its_own_errors_and_keys(sink_kind: None, write_scenario: WriteScenario) -> None:
    with pytest.raises(ScenarioError) as bad_field:
        load_scenario(write_scenario(SCENARIO.replace("    kind: sink\n", "    kind: sink\n    bogus: 1\n")))
    assert str(bad_field.value).endswith("case.yaml:10: nodes.sink.bogus: unknown field `bogus`")
    with pytest.raises(ScenarioError) as bad_key:
        load_scenario(write_scenario(SCENARIO.replace("    line:\n", "    login: {rip: x}\n    line:\n")))
    assert "expect.sink.login: a sink sink cannot show `login`; it shows: line" in str(bad_key.value)
    version_key = SCENARIO.replace("args: client.example", "args: {sink-1.0: client.example}")
    assert load_scenario(write_scenario(version_key, name="keyed")).expect["sink"].entries("line")


def test_without_registration_the_kind_is_unknown(write_scenario: WriteScenario) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write_scenario(SCENARIO))
    assert (f"case.yaml:9: nodes.sink.kind: `kind:` must be one of {', '.join(registry.names())}, not `sink`"
            in str(caught.value))


def _run(folder: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str | None]]:
    junit = folder / "junit.xml"
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.extension_kind", "scenarios", "-rA",
                          f"--junitxml={junit}", "-p", "no:cacheprovider", *args],
                         cwd=folder, capture_output=True, text=True, timeout=600, check=False,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "MAILHOPS_SETTLE_TIMEOUT": "4"})
    return run, failures_by_item(junit)


@pytest.mark.docker
def test_a_kind_from_outside_runs_on_a_real_container(tmp_path: Path) -> None:
    docker_client()
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "sink.yaml").write_text(SCENARIO)
    (tmp_path / "scenarios" / "sink_wrong.yaml").write_text(SCENARIO.replace('"ADDR=203.0.113.7 LOGIN=alice"',
                                                                             '"ADDR=198.51.100.1 LOGIN=alice"'))
    run, failures = _run(tmp_path)
    assert set(failures) == {"sink[sink-1.0]", "sink_wrong[sink-1.0]"}, run.stdout[-3000:]
    assert failures["sink[sink-1.0]"] is None, failures["sink[sink-1.0]"]
    wrong = failures["sink_wrong[sink-1.0]"] or ""
    assert has_fail_line(wrong, "sink", "line[0].args"), wrong
    assert "observed ADDR=203.0.113.7 LOGIN=alice" in wrong
