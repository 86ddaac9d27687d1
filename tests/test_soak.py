"""tools/soak.py: its arguments, the pytest command of a run, the counting from JUnit XML, and (on a tiny Python test
file, never on scenarios) a whole soak that finds the item that fails once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("soak", ROOT / "tools" / "soak.py")
assert _spec is not None and _spec.loader is not None
soak = importlib.util.module_from_spec(_spec)
sys.modules["soak"] = soak  # dataclasses look their module up
_spec.loader.exec_module(soak)

JUNIT = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5">
<testcase classname="scenarios.imap.trusted_front.yaml" name="trusted_front[dovecot-2.3]" time="3.1"/>
<testcase classname="scenarios.imap.trusted_front.yaml" name="trusted_front[dovecot-2.4.1]" time="3.0">
  <failure message="scenario failed">backend.login.rip: expected 203.0.113.7</failure></testcase>
<testcase classname="scenarios.loops.imap_ring_2.yaml" name="imap_ring_2[dovecot-2.3]" time="1.0">
  <skipped type="pytest.xfail" message="known issue: a crash"/></testcase>
<testcase classname="scenarios.imap.other.yaml" name="other[dovecot-2.3]" time="1.0"/>
<testcase classname="scenarios.imap.other.yaml" name="other[dovecot-2.3]" time="0.1">
  <error message="failed on teardown">boom</error></testcase>
<testcase classname="" name="scenarios/broken.yaml" time="0.0"><error message="collection failure"/></testcase>
</testsuite></testsuites>
"""


def test_defaults_run_the_scenarios_three_times_on_two_workers() -> None:
    options = soak.parse_args([])
    assert (options.runs, options.paths, options.workers, options.pytest_args) == (3, ("scenarios/",), 2, ())


def test_arguments_after_a_double_dash_go_to_pytest() -> None:
    options = soak.parse_args(["--runs", "2", "scenarios/imap/trusted_front.yaml", "--", "--dovecot", "2.4.5", "-x"])
    assert options.runs == 2 and options.paths == ("scenarios/imap/trusted_front.yaml",)
    assert options.pytest_args == ("--dovecot", "2.4.5", "-x")
    command = soak.pytest_command(options, Path("/tmp/run-1.xml"))
    assert command[:3] == [sys.executable, "-m", "pytest"]
    assert command[3:] == ["scenarios/imap/trusted_front.yaml", "-q", "-p", "no:cacheprovider",
                           "--junitxml=/tmp/run-1.xml", "-n", "2", "--dovecot", "2.4.5", "-x"]


def test_no_workers_means_no_xdist() -> None:
    assert "-n" not in soak.pytest_command(soak.parse_args(["-n", "0", "-N", "1"]), Path("x.xml"))


@pytest.mark.parametrize("argv", [["--runs", "0"], ["--workers", "-1"], ["scenarios/", "--from-xml", "a.xml"],
                                  ["--runs", "two"]])
def test_bad_arguments_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        soak.parse_args(argv)
    assert caught.value.code == 2


def test_outcomes_of_a_junit_file() -> None:
    assert soak.outcomes(JUNIT) == {
        "scenarios.imap.trusted_front.yaml::trusted_front[dovecot-2.3]": "passed",
        "scenarios.imap.trusted_front.yaml::trusted_front[dovecot-2.4.1]": "failed",
        "scenarios.loops.imap_ring_2.yaml::imap_ring_2[dovecot-2.3]": "skipped",
        "scenarios.imap.other.yaml::other[dovecot-2.3]": "failed",  # passed, then its teardown failed
        "scenarios/broken.yaml": "failed",
    }


RUNS = [
    {"a": "passed", "b": "passed", "c": "skipped", "d": "failed"},
    {"a": "passed", "b": "failed", "c": "skipped", "d": "failed"},
    {"a": "passed", "c": "skipped", "d": "failed"},
]


def test_tally_flaky_and_failing() -> None:
    counts = soak.tally(RUNS)
    assert counts["b"] == {"passed": 1, "failed": 1, "missing": 1}
    assert soak.flaky(counts, 3) == ["b"]
    assert soak.failing(counts) == ["b", "d"]
    assert soak.exit_status(RUNS) == 1
    assert soak.exit_status([{"a": "passed", "c": "skipped"}] * 2) == 0


def test_report_lists_every_item_then_the_flaky_ones_then_the_summary() -> None:
    assert soak.report(RUNS) == [
        "per item (passed/runs) over 3 runs:",
        "  a  3/3",
        "  b  1/3  (failed 1, missing 1)",
        "  c  0/3  (skipped 3)",
        "  d  0/3  (failed 3)",
        "flaky (passed sometimes): 1",
        "  b  passed 1/3",
        "soak: 3 runs, 4 items, 1 flaky",
    ]
    assert soak.report([])[-1] == "soak: 0 runs, 0 items, 0 flaky"


def test_main_counts_earlier_runs_from_their_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = []
    for index, text in enumerate([JUNIT, JUNIT.replace('<failure message="scenario failed">', "<system-out>")
                                  .replace("</failure>", "</system-out>")], start=1):
        files.append(tmp_path / f"run-{index}.xml")
        files[-1].write_text(text)
    assert soak.main(["--from-xml", *map(str, files)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "  scenarios.imap.trusted_front.yaml::trusted_front[dovecot-2.4.1]  passed 1/2" in out
    assert out[-1] == "soak: 2 runs, 5 items, 1 flaky"


def test_a_soak_finds_the_item_that_fails_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two real pytest runs of a plain test file (no scenarios, no Docker): the test that fails in the first run
    only is the one flaky item."""
    (tmp_path / "test_tiny.py").write_text(
        "from pathlib import Path\n"
        "MARK = Path(__file__).with_name('ran')\n"
        "def test_steady():\n    pass\n"
        "def test_once():\n"
        "    first = not MARK.exists()\n    MARK.touch()\n    assert not first\n")
    status = soak.main(["--runs", "2", "--workers", "0", "--xml-dir", str(tmp_path / "xml"),
                        str(tmp_path / "test_tiny.py"), "--", f"--rootdir={tmp_path}"])
    out = capsys.readouterr().out.splitlines()
    assert status == 1, out
    assert out[0].startswith("run 1/2: 1 passed, 1 failed, 0 skipped")
    assert out[1].startswith("run 2/2: 2 passed, 0 failed, 0 skipped")
    assert sorted((tmp_path / "xml").glob("run-*.xml")) == [tmp_path / "xml" / f"run-{i}.xml" for i in (1, 2)]
    assert out[-3:] == ["flaky (passed sometimes): 1", "  test_tiny::test_once  passed 1/2",
                        "soak: 2 runs, 2 items, 1 flaky"]


def test_a_run_that_writes_no_junit_file_stops_the_soak(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = soak.main(["--runs", "2", "--workers", "0", "--xml-dir", str(tmp_path), str(tmp_path / "none.py"),
                        "--", "--no-such-option"])
    assert status == 2
    assert "wrote no" in capsys.readouterr().err
