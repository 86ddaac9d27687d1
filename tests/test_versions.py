"""The matrix and what a scenario runs on: labels where a major repeats, pins by major or version, package pins,
rollout states from tiers."""

from __future__ import annotations

import pytest

from harness.load.scenario import ScenarioError, load_scenario
from harness.plan.versions import (
    Combination,
    MatrixError,
    ServerRelease,
    matrix,
    package_upstream,
    pin_packages,
    selected_combinations,
)
from tests.conftest import WriteScenario
from tests.test_collection import TWO_HOP

READ = {"bookworm": "2.3.19.1 (9b53102964)", "trixie": "2.4.1-4 (7d8c0e5759)", "forky": "2.4.5-4 (aa1b2c3d4e)"}


def version_of(release: ServerRelease) -> str:
    return READ[release.suite] if release.family == "dovecot" else {"bookworm": "3.7.11", "trixie": "3.10.13",
                                                                     "forky": "3.11.7"}[release.suite]


def labelled() -> dict[str, tuple[ServerRelease, ...]]:
    return matrix(version_of)


def test_a_repeated_major_is_labelled_with_the_version_read_from_its_images() -> None:
    releases = labelled()
    assert [r.label for r in releases["dovecot"]] == ["dovecot-2.3", "dovecot-2.4.1", "dovecot-2.4.5"]
    assert [r.label for r in releases["postfix"]] == ["postfix-3.7", "postfix-3.10", "postfix-3.11"]


def test_without_the_versions_a_repeated_major_cannot_be_labelled() -> None:
    with pytest.raises(MatrixError, match="dovecot 2.4 comes from several suites"):
        matrix()
    assert [r.label for r in matrix(strict=False)["dovecot"]] == ["dovecot-2.3", "dovecot-2.4-trixie",
                                                                  "dovecot-2.4-forky"]


def test_one_version_in_two_suites_keeps_the_labels_apart() -> None:
    same = matrix(lambda r: "2.4.5 (x)" if r.family == "dovecot" and r.major == "2.4" else version_of(r))
    assert [r.label for r in same["dovecot"]] == ["dovecot-2.3", "dovecot-2.4.5-trixie", "dovecot-2.4.5-forky"]


def labels(scenario, wanted=None, rollouts=None) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.label for c in selected_combinations(scenario, wanted or {}, None, labelled(), rollouts)]


def test_a_pin_by_major_takes_every_release_of_it(write_scenario: WriteScenario) -> None:
    pinned = load_scenario(write_scenario('servers: {dovecot: ["2.4"]}\n' + TWO_HOP))
    assert labels(pinned) == ["dovecot-2.4.1", "dovecot-2.4.5"]
    assert labels(pinned, {"dovecot": ["2.4.5"]}) == ["dovecot-2.4.5"]
    assert labels(load_scenario(write_scenario(TWO_HOP, "free")), {"dovecot": ["2.3", "2.4.1"]}) == [
        "dovecot-2.3", "dovecot-2.4.1"]


def test_rollout_states_for_adjacent_releases_both_ways(write_scenario: WriteScenario) -> None:
    scenario = load_scenario(write_scenario("rollout: true\n" + TWO_HOP))
    assert scenario.tier_map() == {"dovecot": ["proxy", "backend"]}
    assert labels(scenario) == [
        "dovecot-2.3", "dovecot-2.4.1", "dovecot-2.4.5",
        "proxy=dovecot-2.4.1,backend=dovecot-2.3", "proxy=dovecot-2.3,backend=dovecot-2.4.1",
        "proxy=dovecot-2.4.5,backend=dovecot-2.4.1", "proxy=dovecot-2.4.1,backend=dovecot-2.4.5",
    ]
    assert labels(scenario, rollouts=False) == ["dovecot-2.3", "dovecot-2.4.1", "dovecot-2.4.5"]
    plain = load_scenario(write_scenario(TWO_HOP, "plain"))
    assert len(labels(plain)) == 3 and len(labels(plain, rollouts=True)) == 7


def test_a_rollout_combination_gives_each_tier_its_release(write_scenario: WriteScenario) -> None:
    scenario = load_scenario(write_scenario("rollout: true\n" + TWO_HOP))
    state = selected_combinations(scenario, {}, None, labelled())[3]
    assert isinstance(state, Combination) and state.mixed
    assert state.release("dovecot", scenario.tier_of("proxy")).label == "dovecot-2.4.1"
    assert state.release("dovecot", scenario.tier_of("backend")).label == "dovecot-2.3"


def test_declared_tiers_and_their_errors(write_scenario: WriteScenario) -> None:
    three = """\
rollout: true
tiers: {edge: [p1], inner: [p2], store: [b]}
nodes:
  p1: {kind: dovecot, role: proxy, to: p2, trust: [client]}
  p2: {kind: dovecot, role: proxy, to: b, trust: [p1]}
  b: {kind: dovecot, role: backend, trust: [p2]}
clients:
  - to: p1
"""
    scenario = load_scenario(write_scenario(three))
    assert scenario.tier_map() == {"dovecot": ["edge", "inner", "store"]}
    mixed = [label for label in labels(scenario) if "=" in label]
    assert "edge=dovecot-2.4.1,inner=dovecot-2.3,store=dovecot-2.3" in mixed
    assert "edge=dovecot-2.4.1,inner=dovecot-2.4.1,store=dovecot-2.3" in mixed
    assert "edge=dovecot-2.3,inner=dovecot-2.4.1,store=dovecot-2.4.1" in mixed and len(mixed) == 8
    with pytest.raises(ScenarioError, match=r"case.yaml:2: tiers.edge\[1\]: no node named `nope`"):
        load_scenario(write_scenario(three.replace("edge: [p1]", "edge: [p1, nope]")))
    with pytest.raises(ScenarioError, match="rollout: a rollout needs two tiers of one server family"):
        load_scenario(write_scenario("rollout: true\n" + TWO_HOP.replace(
            "  proxy: {kind: dovecot, role: proxy, to: backend, trust: [client]}\n",
            "  proxy: {kind: relay, mode: pass, to: backend}\n")))


def test_package_pins_pick_the_suite_of_the_debian_number() -> None:
    assert package_upstream("1:2.3.19.1+dfsg1-2.1+deb12u6") == "2.3.19.1"
    pinned = pin_packages(labelled(), {"dovecot": "1:2.3.19.1+dfsg1-2.1+deb12u6"})
    assert [r.package for r in pinned["dovecot"]] == ["1:2.3.19.1+dfsg1-2.1+deb12u6", None, None]
    trixie = pin_packages(labelled(), {"dovecot": "1:2.4.1+dfsg1-6+deb13u7"})
    assert [r.suite for r in trixie["dovecot"] if r.package] == ["trixie"]
    forky = pin_packages(labelled(), {"dovecot": "1:2.4.5+dfsg1-4"})
    assert [r.suite for r in forky["dovecot"] if r.package] == ["forky"]
    with pytest.raises(ValueError, match="no dovecot 9.9 in the matrix"):
        pin_packages(labelled(), {"dovecot": "1:9.9.0-1"})
