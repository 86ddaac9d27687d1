"""Run the scenario suite (or the given paths) N times in a row and say which items are flaky: passed in some runs,
not in others. Each run is one `pytest PATHS -n WORKERS --junitxml=DIR/run-<i>.xml`; the counting reads those
files, so it can also be done again later from them (`--from-xml`).

    python tools/soak.py --runs 5                              # scenarios/, 5 times, 2 workers
    python tools/soak.py --runs 2 scenarios/imap/trusted_front.yaml -- --dovecot 2.4.5
    python tools/soak.py --from-xml /tmp/soak/run-*.xml        # count runs made earlier

Prints per item how many runs it passed, then the flaky items, and as last line
`soak: N runs, K items, F flaky`. Exit status: 0 when every item passed (or was skipped/xfailed) in every run,
1 otherwise, 2 when a run left no JUnit file (pytest could not start)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSED, FAILED, SKIPPED, MISSING = "passed", "failed", "skipped", "missing"
"""An item's outcome in one run; `skipped` covers xfail (JUnit writes both as <skipped>), `missing` an item that
run did not have (its collection failed, or it was deselected)."""


@dataclass(frozen=True)
class Options:
    runs: int
    paths: tuple[str, ...]
    workers: int
    xml_dir: Path | None
    pytest_args: tuple[str, ...]
    from_xml: tuple[Path, ...]


def parse_args(argv: Sequence[str]) -> Options:
    """Arguments before `--` are the soak's, after it pytest's own (e.g. `--dovecot 2.4.5`)."""
    argv = list(argv)
    extra: list[str] = []
    if "--" in argv:
        index = argv.index("--")
        argv, extra = argv[:index], argv[index + 1:]
    parser = argparse.ArgumentParser(prog="python tools/soak.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="scenario files or folders (default: scenarios/)")
    parser.add_argument("--runs", "-N", type=int, default=3, help="how many runs in a row (default 3)")
    parser.add_argument("--workers", "-n", type=int, default=2,
                        help="pytest-xdist workers per run (default 2; 0 runs without xdist)")
    parser.add_argument("--xml-dir", type=Path, metavar="DIR",
                        help="keep each run's JUnit file there as run-<i>.xml (default: a temporary folder)")
    parser.add_argument("--from-xml", type=Path, nargs="+", default=(), metavar="FILE",
                        help="run nothing: count these JUnit files, one per run")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.workers < 0:
        parser.error("--workers must be 0 or more")
    if args.from_xml and args.paths:
        parser.error("--from-xml counts earlier runs: give no paths with it")
    return Options(runs=len(args.from_xml) or args.runs, paths=tuple(args.paths) or ("scenarios/",),
                   workers=args.workers, xml_dir=args.xml_dir, pytest_args=tuple(extra),
                   from_xml=tuple(args.from_xml))


def pytest_command(options: Options, xml: Path) -> list[str]:
    """One run: pytest on the paths, with xdist workers unless 0, writing its JUnit file to `xml`."""
    command = [sys.executable, "-m", "pytest", *options.paths, "-q", "-p", "no:cacheprovider", f"--junitxml={xml}"]
    if options.workers:
        command += ["-n", str(options.workers)]
    return command + list(options.pytest_args)


def outcomes(xml: str | bytes) -> dict[str, str]:
    """item -> passed/failed/skipped, from one JUnit XML document (pytest's: <testsuites><testsuite><testcase>).
    An item is `classname::name`: `scenarios.imap.trusted_front.yaml::trusted_front[dovecot-2.3]`."""
    root = ElementTree.fromstring(xml)
    found: dict[str, str] = {}
    for case in root.iter("testcase"):
        item = "::".join(part for part in (case.get("classname", ""), case.get("name", "")) if part)
        children = {child.tag for child in case}
        if children & {"failure", "error"}:
            outcome = FAILED
        elif "skipped" in children:
            outcome = SKIPPED
        else:
            outcome = PASSED
        # pytest writes a second testcase for an error in teardown: the worse outcome counts.
        if found.get(item) != FAILED:
            found[item] = outcome
    return found


def tally(runs: Sequence[Mapping[str, str]]) -> dict[str, Counter[str]]:
    """item -> how often each outcome happened over the runs (an item a run lacks is `missing` there)."""
    items = sorted({item for run in runs for item in run})
    return {item: Counter(run.get(item, MISSING) for run in runs) for item in items}


def flaky(counts: Mapping[str, Counter[str]], runs: int) -> list[str]:
    """Items that passed in some runs but not in all."""
    return [item for item, count in counts.items() if 0 < count[PASSED] < runs]


def failing(counts: Mapping[str, Counter[str]]) -> list[str]:
    """Items that failed, or went missing, in at least one run."""
    return [item for item, count in counts.items() if count[FAILED] or count[MISSING]]


def report(runs: Sequence[Mapping[str, str]]) -> list[str]:
    """The lines the soak prints: per item its passes and other outcomes, the flaky ones, the summary line."""
    counts = tally(runs)
    total = len(runs)
    width = max((len(item) for item in counts), default=0)
    lines = [f"per item (passed/runs) over {total} run{'s' if total != 1 else ''}:"]
    for item, count in counts.items():
        others = ", ".join(f"{outcome} {count[outcome]}" for outcome in (FAILED, SKIPPED, MISSING) if count[outcome])
        lines.append(f"  {item:<{width}}  {count[PASSED]}/{total}" + (f"  ({others})" if others else ""))
    unsteady = flaky(counts, total)
    lines.append(f"flaky (passed sometimes): {len(unsteady)}")
    lines += [f"  {item}  passed {counts[item][PASSED]}/{total}" for item in unsteady]
    lines.append(f"soak: {total} runs, {len(counts)} items, {len(unsteady)} flaky")
    return lines


def exit_status(runs: Sequence[Mapping[str, str]]) -> int:
    return 1 if failing(tally(runs)) else 0


def _read(paths: Iterable[Path]) -> list[dict[str, str]]:
    return [outcomes(path.read_bytes()) for path in paths]


def main(argv: Sequence[str]) -> int:
    options = parse_args(argv)
    if options.from_xml:
        runs = _read(options.from_xml)
    else:
        folder = options.xml_dir or Path(tempfile.mkdtemp(prefix="mailhops-soak-"))
        folder.mkdir(parents=True, exist_ok=True)
        runs = []
        for index in range(1, options.runs + 1):
            xml = folder / f"run-{index}.xml"
            xml.unlink(missing_ok=True)
            started = time.monotonic()
            completed = subprocess.run(pytest_command(options, xml), cwd=ROOT, check=False,
                                       stdout=subprocess.DEVNULL)
            if not xml.is_file():
                print(f"run {index}/{options.runs}: pytest exited {completed.returncode} and wrote no {xml}",
                      file=sys.stderr)
                return 2
            runs += _read([xml])
            count = Counter(runs[-1].values())
            print(f"run {index}/{options.runs}: {count[PASSED]} passed, {count[FAILED]} failed, "
                  f"{count[SKIPPED]} skipped (pytest exit {completed.returncode}, "
                  f"{time.monotonic() - started:.0f}s; {xml})", flush=True)
    for line in report(runs):
        print(line)
    return exit_status(runs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
