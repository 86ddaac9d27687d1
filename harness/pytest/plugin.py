"""pytest hooks: options, configuration, collection of scenario files, the end of the session. The items are in
`items.py`, the state in `state.py`; the stages themselves know nothing of pytest."""

from __future__ import annotations

import os
import signal
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from harness.kinds import registry
from harness.plan.versions import ServerRelease
from harness.protocol.table import NAMES as PROTOCOL_NAMES
from harness.pytest.items import ScenarioFile
from harness.pytest.state import STATE, RunState, state_of

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mailhops")
    for family in registry.families():
        variable = f"MAILHOPS_{family.upper()}"
        group.addoption(f"--{family}", default=os.environ.get(variable, ""),
                        help=f"comma-separated {family} versions to run (default: every version in the matrix)")
        group.addoption(f"--{family}-image", default=os.environ.get(f"{variable}_IMAGE", ""), metavar="TAG",
                        help=f"run every {family} node on this image instead of the built-in matrix "
                             "(version detected)")
        group.addoption(f"--{family}-package", default=os.environ.get(f"{variable}_PACKAGE", ""), metavar="VERSION",
                        help=f"build the matrix's {family} of that major from this Debian package version "
                             "(e.g. a point release, to compare with its security update)")
    group.addoption("--observations", default=os.environ.get("MAILHOPS_OBSERVATIONS", ""), metavar="FILE",
                    help="write every item's normalised observations to FILE (JSON), for `python -m harness drift`")
    group.addoption("--summary", default="", metavar="FILE",
                    help="append a markdown summary (Mermaid topology per scenario) to FILE; "
                         "$GITHUB_STEP_SUMMARY is used when set")
    group.addoption("--rollouts", choices=("scenario", "all", "none"),
                    default=os.environ.get("MAILHOPS_ROLLOUTS", "scenario"),
                    help="rollout states (tiers of a chain on adjacent versions): where a scenario asks with "
                         "`rollout: true` (default), for every scenario with two tiers, or none")
    group.addoption("--keep", action="store_true", default=False,
                    help="leave each scenario's containers and network up, and print how to reach them")
    group.addoption("--durations-from", default=None, metavar="FILE",
                    help="recorded durations (pytest-split's format) that order the items longest first "
                         "(default: .test_durations in the root directory, when there is one)")


def pytest_configure(config: pytest.Config) -> None:
    worker = getattr(config, "workerinput", None)
    session = worker["testrunuid"] if worker else _run_id(config)
    summary = config.getoption("summary") or os.environ.get("GITHUB_STEP_SUMMARY", "")
    # The summary is made from the observations: collect them even when not asked to keep them.
    observations = config.getoption("observations") or (
        str(Path(tempfile.gettempdir()) / f"mailhops-observations-{session}.json") if summary else "")
    config.stash[STATE] = RunState(
        session=session,
        keep=config.getoption("keep"),
        summary=summary,
        observations=observations,
        is_worker=worker is not None,
        wanted={family: [v.strip() for v in config.getoption(family).split(",") if v.strip()]
                for family in registry.families()},
        user_images=_user_images(config),
        packages={family: package for family in registry.families()
                  if (package := config.getoption(f"{family}_package"))},
        rollouts={"scenario": None, "all": True, "none": False}[config.getoption("rollouts")],
    )
    for name in (*PROTOCOL_NAMES, *registry.names()):
        config.addinivalue_line("markers", f"{name}: scenarios that speak {name} or have a {name} node")
    if worker is None:
        config.pluginmanager.register(_Timing(config.stash[STATE]), "mailhops-timing")
    signal.signal(signal.SIGTERM, _interrupt)


def _run_id(config: pytest.Config) -> str:
    """One id for the whole run: with pytest-xdist, handed to the workers as their testrunuid."""
    run_id = getattr(config.option, "testrunuid", None) or uuid.uuid4().hex
    if hasattr(config.option, "testrunuid"):
        config.option.testrunuid = run_id
    return str(run_id)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _user_images(config: pytest.Config) -> dict[str, ServerRelease]:
    """Releases for --<family>-image: the version is read from the image itself."""
    releases = {}
    for family in registry.families():
        tag = config.getoption(f"{family}_image")
        if tag:
            from harness.provision.user_images import user_release

            try:
                releases[family] = user_release(family, tag)
            except ValueError as exc:
                raise pytest.UsageError(str(exc)) from None
    return releases


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and "scenarios" in file_path.parts:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Scenario items longest first (by recorded durations), so no long item starts last under `-n`."""
    from harness.pytest.items import ScenarioItem
    from harness.report.timing import DURATIONS_FILE, longest_first, read_durations

    chosen = config.getoption("durations_from")
    durations = read_durations(Path(chosen) if chosen else config.rootpath / DURATIONS_FILE)
    places = [index for index, item in enumerate(items) if isinstance(item, ScenarioItem)]
    if not durations or not places:
        return
    scenario_items = [items[index] for index in places]
    order = longest_first([item.nodeid for item in scenario_items], durations)
    for place, index in zip(places, order, strict=True):
        items[place] = scenario_items[index]


def pytest_sessionstart(session: pytest.Session) -> None:
    state_of(session.config).started = time.monotonic()


class _Timing:
    """On the controller: each scenario item's time (setup, call and teardown) and the worker that ran it."""

    def __init__(self, state: RunState):
        self.state = state
        self.running: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if ".yaml::" not in report.nodeid:
            return
        from harness.report.timing import Timed

        seconds = self.running.pop(report.nodeid, 0.0) + report.duration
        if report.when != "teardown":
            self.running[report.nodeid] = seconds
            return
        worker = getattr(getattr(getattr(report, "node", None), "gateway", None), "id", "main")
        self.state.timed.append(Timed(report.nodeid, str(worker), seconds))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The critical path of the run; GitHub annotations for failures, each on a line of its own (GitHub reads
    commands at line starts)."""
    state = state_of(terminalreporter.config)
    if state.timed and not state.is_worker:
        from harness.report.timing import critical_path

        for line in critical_path(state.timed, time.monotonic() - state.started):
            terminalreporter.write_line(line)
    if state.annotate is not None:
        from harness.report.summary import annotations

        for line in annotations(state.annotate):
            terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = state_of(session.config)
    if state.docker is not None and not state.keep:
        from harness.provision.labels import sweep

        sweep(state.docker, only_session=state.session)
    if state.observations:
        from harness.report.record_file import merge_parts, write_part

        write_part(state.observations, state.records)
        if not state.is_worker:
            merge_parts(state.observations)
            if state.summary:
                _write_summary(state)


def _write_summary(state: RunState) -> None:
    from harness.report.record_file import load
    from harness.report.summary import write_step_summary

    doc = load(state.observations)
    if doc["items"]:  # a run of the project's own tests has no scenario items: nothing to summarise
        write_step_summary(doc, state.summary)
        state.annotate = doc
