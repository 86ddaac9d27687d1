"""pytest wiring: scenario YAML files become items, one per server version; options; cleanup hooks."""

from __future__ import annotations

import os
import signal
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.load.scenario import Scenario, ScenarioError, load_scenario
from harness.plan.versions import FAMILIES, Combination, ServerRelease, combinations

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

_STATE: dict[str, Any] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mailhops")
    group.addoption("--dovecot", default=os.environ.get("MAILHOPS_DOVECOT", ""),
                    help="comma-separated Dovecot versions to run (default: every version in the matrix)")
    group.addoption("--postfix", default=os.environ.get("MAILHOPS_POSTFIX", ""),
                    help="comma-separated Postfix versions to run (default: every version in the matrix)")
    group.addoption("--dovecot-image", default=os.environ.get("MAILHOPS_DOVECOT_IMAGE", ""), metavar="TAG",
                    help="run every Dovecot node on this image instead of the built-in matrix (version detected)")
    group.addoption("--postfix-image", default=os.environ.get("MAILHOPS_POSTFIX_IMAGE", ""), metavar="TAG",
                    help="run every Postfix node on this image instead of the built-in matrix (version detected)")
    group.addoption("--observations", default=os.environ.get("MAILHOPS_OBSERVATIONS", ""), metavar="FILE",
                    help="write every item's normalised observations to FILE (JSON), for `python -m harness drift`")
    group.addoption("--summary", default="", metavar="FILE",
                    help="append a markdown summary (Mermaid topology per scenario) to FILE; "
                         "$GITHUB_STEP_SUMMARY is used when set")
    group.addoption("--keep", action="store_true", default=False,
                    help="leave each scenario's containers and network up, and print how to reach them")


def pytest_configure(config: pytest.Config) -> None:
    worker = getattr(config, "workerinput", None)
    _STATE["session"] = worker["testrunuid"] if worker else _run_id(config)
    _STATE["keep"] = config.getoption("keep")
    _STATE["summary"] = config.getoption("summary") or os.environ.get("GITHUB_STEP_SUMMARY", "")
    _STATE["observations"] = config.getoption("observations") or (
        # The summary is made from the observations: collect them even when not asked to keep them.
        str(Path(tempfile.gettempdir()) / f"mailhops-observations-{_STATE['session']}.json")
        if _STATE["summary"] else "")
    _STATE["records"] = []
    _STATE["is_worker"] = worker is not None
    _STATE["wanted"] = {family: [v.strip() for v in config.getoption(family).split(",") if v.strip()]
                        for family in FAMILIES}
    _STATE["user_images"] = _user_images(config)
    signal.signal(signal.SIGTERM, _interrupt)


def _run_id(config: pytest.Config) -> str:
    """One id for the whole run: with pytest-xdist, handed to the workers as their testrunuid."""
    run_id = getattr(config.option, "testrunuid", None) or uuid.uuid4().hex
    if hasattr(config.option, "testrunuid"):
        config.option.testrunuid = run_id
    return str(run_id)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and "scenarios" in file_path.parts:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def _write_summary(observations: str, summary: str) -> None:
    from harness.report.record_file import load
    from harness.report.summary import write_step_summary

    doc = load(observations)
    if doc["items"]:  # a run of the project's own tests has no scenario items: nothing to summarise
        write_step_summary(doc, summary)
        _STATE["annotate"] = doc


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """GitHub annotations for failures, each on a line of its own (GitHub reads commands at line starts)."""
    doc = _STATE.get("annotate")
    if doc is not None:
        from harness.report.summary import annotations

        for line in annotations(doc):
            terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    client = _STATE.get("docker")
    if client is not None and not _STATE["keep"]:
        from harness.provision.labels import sweep

        sweep(client, only_session=_STATE["session"])
    if _STATE.get("observations"):
        from harness.report.record_file import merge_parts, write_part

        write_part(_STATE["observations"], _STATE["records"])
        if not _STATE["is_worker"]:
            merge_parts(_STATE["observations"])
            if _STATE["summary"]:
                _write_summary(_STATE["observations"], _STATE["summary"])


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            scenario = load_scenario(self.path)
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        combos = selected_combinations(scenario, _STATE.get("wanted", {}), _STATE.get("user_images"))
        if not combos:
            yield ScenarioItem.from_parent(self, name=f"{self.path.stem}[no-version]", scenario=scenario, combo=None)
        for combo in combos:
            yield ScenarioItem.from_parent(self, name=f"{self.path.stem}[{combo.label}]", scenario=scenario,
                                           combo=combo)


def selected_combinations(scenario: Scenario, wanted: Mapping[str, Sequence[str]],
                          images: Mapping[str, ServerRelease] | None = None) -> list[Combination]:
    """The server combinations this scenario runs on: the matrix of the server families it uses (or the
    user's images), cut by the scenario's pins and by --dovecot/--postfix."""
    pins = {"dovecot": scenario.servers.dovecot, "postfix": scenario.servers.postfix}
    return combinations(scenario.families(), pins, wanted, images)


def _user_images(config: pytest.Config) -> dict[str, ServerRelease]:
    """Releases for --dovecot-image/--postfix-image: the version is read from the image itself."""
    releases = {}
    for family in FAMILIES:
        tag = config.getoption(f"{family}_image")
        if tag:
            from harness.provision.user_images import user_release

            try:
                releases[family] = user_release(family, tag)
            except ValueError as exc:
                raise pytest.UsageError(str(exc)) from None
    return releases


class ScenarioFailure(Exception):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, combo: Combination | None, **kwargs: Any):
        super().__init__(**kwargs)
        self.scenario = scenario
        self.combo = combo
        self.user_properties.append(("scenario", scenario.name))
        if combo is not None:
            self.user_properties.append(("servers", combo.label))
        self.user_properties.append(("nodes", ",".join(scenario.nodes)))

    @property
    def label(self) -> str:
        return self.combo.label if self.combo else "no-version"

    def runtest(self) -> None:
        if self.combo is None:
            pytest.skip("no server version of the matrix is selected for this scenario")
        from harness.pipeline import ScenarioRun
        from harness.report.failure import failure_text

        run = ScenarioRun(self.scenario, self.combo, _image_set(), _STATE["session"], self.nodeid,
                          keep=_STATE["keep"], complete_logs=bool(_STATE["observations"]))
        result = run.execute()
        if _STATE["keep"]:
            print(_keep_text(run))
        for family, version in result.server_versions.items():
            self.user_properties.append((f"{family}_version", version))
        outcome = "failed" if not result.passed else "xfailed" if result.health.known_seen else "passed"
        if _STATE.get("observations"):
            from harness.report.record import item_record

            _STATE["records"].append(item_record(result, self.nodeid, self.label, outcome))
        if not result.passed:
            raise ScenarioFailure(failure_text(result, self.label))
        if result.health.known_seen:
            pytest.xfail("known issue: " + "; ".join(issue.reason for issue in result.health.known_seen))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailure):
            return excinfo.value.text
        from harness.provision.container import NodeStartError
        from harness.provision.images import ImageError

        if isinstance(excinfo.value, (NodeStartError, ImageError)):
            return f"{self.scenario.name} [{self.label}]: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario {self.scenario.name} [{self.label}]"


def _image_set() -> Any:
    if "images" not in _STATE:
        import docker

        from harness.pipeline import ImageSet
        from harness.provision.labels import sweep

        client = docker.from_env(timeout=120)
        _STATE["docker"] = client
        sweep(client)
        _STATE["images"] = ImageSet(client)
    return _STATE["images"]


def _keep_text(run: Any) -> str:
    lines = ["kept for debugging (remove with: python -m harness sweep):"]
    for name, container in run.containers.items():
        lines.append(f"  {name}: {container.spec.address}  docker exec -it {container.docker_name} sh")
    return "\n".join(lines)
