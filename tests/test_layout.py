"""The shape of the tree keeps its promises: no stage names a node kind, protocols are named in the protocol
table, and the report stage does not need Docker."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from harness.kinds import registry
from harness.protocol.table import NAMES
from tests.conftest import ROOT

HARNESS = ROOT / "harness"


def _modules_naming(word: str) -> set[str]:
    """Modules under harness/ with a string constant that is exactly `word`."""
    found = set()
    for path in HARNESS.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        if any(isinstance(node, ast.Constant) and node.value == word for node in ast.walk(tree)):
            found.add(path.relative_to(ROOT).as_posix())
    return found


def test_no_module_outside_a_kinds_folder_names_the_kind() -> None:
    for name in registry.names():
        # A kind's own folder, and a program of its own that it runs in its container (harness/relay/).
        own = (f"harness/kinds/{name}/", f"harness/{name}/")
        outside = {module for module in _modules_naming(name)
                   if not module.startswith(own) and module != "harness/kinds/registry.py"}
        assert not outside, f"`{name}` is named outside harness/kinds/{name}/: {sorted(outside)}"


def test_protocols_are_named_by_the_protocol_table() -> None:
    """Outside the table, a protocol's name is only a kind's business (what a server serves, the ports it
    probes) or a test of the relay's own table; at most a handful of modules."""
    for name in NAMES:
        outside = {module for module in _modules_naming(name) if module != "harness/protocol/table.py"
                   and not module.startswith("harness/kinds/")}
        assert len(outside) <= 2, f"`{name}` is named in {sorted(outside)}"


def test_the_report_stage_imports_no_docker() -> None:
    code = ("import sys, harness.report.failure, harness.report.record, harness.report.summary, "
            "harness.report.drift, harness.report.coverage, harness.load.scenario, harness.plan.topology, "
            "harness.check.expect; bad = [m for m in ('docker', 'testcontainers') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_pytest_wiring_keeps_no_module_state() -> None:
    for path in (HARNESS / "pytest").glob("*.py"):
        tree = ast.parse(path.read_text())
        mutable = [target.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                   for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                   if isinstance(target, ast.Name) and isinstance(node.value, (ast.Dict, ast.List, ast.Set))]
        assert not mutable, f"{path.name}: module-level state {mutable} (use config.stash)"


def test_every_kind_folder_is_self_contained() -> None:
    for kind in registry.kinds():
        folder = HARNESS / "kinds" / kind.name
        assert (folder / "Dockerfile").is_file() and (folder / "model.py").is_file(), folder
        assert Path(sys.modules[type(kind).__module__].__file__ or "").parent == folder
