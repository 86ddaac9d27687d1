"""Longest-first order from recorded durations, and the critical path of a finished run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.report.timing import Timed, critical_path, longest_first, read_durations


def test_longest_first_puts_unknown_items_at_the_median_and_keeps_ties_in_collection_order() -> None:
    ids = ["a", "b", "c", "d", "e"]
    durations = {"a": 1.0, "b": 30.0, "c": 5.0, "e": 5.0}
    assert [ids[i] for i in longest_first(ids, durations)] == ["b", "c", "d", "e", "a"]
    assert longest_first(ids, {}) == [0, 1, 2, 3, 4]


@given(st.dictionaries(st.text(min_size=1, max_size=5), st.floats(0, 1000), max_size=30),
       st.lists(st.text(min_size=1, max_size=5), unique=True, max_size=30))
def test_longest_first_is_a_permutation_in_descending_known_durations(durations: dict[str, float],
                                                                      ids: list[str]) -> None:
    order = longest_first(ids, durations)
    assert sorted(order) == list(range(len(ids)))
    known = [durations[ids[i]] for i in order if ids[i] in durations]
    assert known == sorted(known, reverse=True)


def test_read_durations_takes_pytest_splits_formats_and_ignores_what_is_not_one(tmp_path: Path) -> None:
    path = tmp_path / ".test_durations"
    path.write_text(json.dumps({"scenarios/a.yaml::a[x]": 3.5}))
    assert read_durations(path) == {"scenarios/a.yaml::a[x]": 3.5}
    path.write_text(json.dumps([["scenarios/a.yaml::a[x]", 2]]))
    assert read_durations(path) == {"scenarios/a.yaml::a[x]": 2.0}
    path.write_text("not json")
    assert read_durations(path) == {}
    assert read_durations(tmp_path / "missing") == {}


def test_critical_path_names_the_busiest_worker_its_longest_items_and_the_longest_item() -> None:
    timed = [Timed("loops/ring[2.4]", "gw0", 31.0), Timed("imap/a[2.3]", "gw0", 3.0),
             Timed("imap/b[2.3]", "gw1", 4.0), Timed("imap/c[2.3]", "gw1", 2.0)]
    lines = critical_path(timed, wall_s=35.2)
    assert lines[0] == ("critical path: wall 35.2s; items 40.0s on 2 worker(s); busiest gw0 34.0s; "
                        "longest item 31.0s (loops/ring[2.4])")
    assert lines[1:3] == ["    31.0s loops/ring[2.4]", "     3.0s imap/a[2.3]"]
    assert lines[-1] == "  balance: busiest worker 34.0s vs an even split 20.0s"
    assert critical_path([], 1.0) == []


def test_a_run_orders_scenario_items_longest_first_and_prints_its_critical_path(
        pytester: pytest.Pytester) -> None:
    folder = pytester.mkdir("scenarios")
    for name in ("short", "long"):
        (folder / f"{name}.yaml").write_text("nodes: {b: {kind: dovecot, role: backend}}\n"
                                             "clients: [{to: b}]\n")
    (pytester.path / ".test_durations").write_text(json.dumps({"scenarios/long.yaml::long[dovecot-2.3]": 50.0,
                                                               "scenarios/short.yaml::short[dovecot-2.3]": 1.0}))
    result = pytester.runpytest("-p", "harness.pytest.plugin", "--collect-only", "-q", "--dovecot", "2.3",
                                "scenarios")
    listed = [line for line in result.outlines if ".yaml::" in line]
    assert listed[:2] == ["scenarios/long.yaml::long[dovecot-2.3]", "scenarios/short.yaml::short[dovecot-2.3]"]
