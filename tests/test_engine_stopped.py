"""An engine that stops answering (Docker 20.10's network code can deadlock: every API call then times out after
the client's 120 s) fails the item that met it with what happened, and every later item of the process at once,
instead of each waiting out its own timeouts (which would hold a CI run for hours)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests.exceptions

from harness.kinds import registry
from harness.pipeline import ScenarioRun
from harness.provision.images import recipe_key
from harness.pytest.state import RunState
from tests.test_collection import TWO_HOP, VERSIONS


def test_the_items_after_an_engine_timeout_fail_without_running(pytester: pytest.Pytester,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    facts = tmp_path / "facts.json"
    recipes = {recipe_key(registry.of_family(r.family).recipe(r)): {"version": VERSIONS[r.suite], "package": None}
               for r in registry.of_family("dovecot").releases}
    facts.write_text(json.dumps({"images": {}, "recipes": recipes}))
    monkeypatch.setenv("MAILHOPS_IMAGE_FACTS", str(facts))
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    ran: list[str] = []

    def execute(run: ScenarioRun) -> None:
        ran.append(run.combination.label)
        raise requests.exceptions.ReadTimeout("UnixHTTPConnectionPool(host='localhost', port=None): Read timed out. "
                                              "(read timeout=120)")

    monkeypatch.setattr(ScenarioRun, "execute", execute)
    monkeypatch.setattr(RunState, "image_set", lambda self: SimpleNamespace(client=None))
    pytester.mkdir("scenarios")
    (pytester.path / "scenarios" / "two_hop.yaml").write_text(TWO_HOP)
    result = pytester.runpytest_inprocess("scenarios", "-q", "-p", "no:cacheprovider")
    assert len(ran) == 1
    result.stdout.fnmatch_lines(["*the Docker engine stopped answering (ReadTimeout: *Read timed out*",
                                 "*not run: the Docker engine stopped answering*", "*3 failed*"])
