"""Benchmark: how the suite scales out, `-n 1` against `-n N` wall time, in one run.

    .venv/bin/python bench/scale.py [--workers 2] [--repeat 1] [--no-warm-up] [paths...] [-- pytest args]

Runs the given scenario paths (default: scenarios/imap, scenarios/pop3 and scenarios/operator) with one
pytest-xdist worker and with N, alternately, and prints each run's wall time, the median of each and the
speed-up; the last line is the headline: `scale: speed-up 1.74x with -n 2 (62.1s -> 35.7s, 30 items)`.
Images are made by a first warm-up run that is not counted (`--no-warm-up` skips it).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ("scenarios/imap", "scenarios/pop3", "scenarios/operator")


def run(paths: list[str], workers: int, extra: list[str]) -> tuple[float, int]:
    """One pytest run: its wall time and how many items passed (it must pass)."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pytest", *paths, "-q", "-p", "no:cacheprovider", "-n",
                             str(workers), *extra], cwd=ROOT, capture_output=True, text=True, timeout=3600,
                            check=False)
    seconds = time.monotonic() - started
    passed = re.search(r"(\d+) passed", result.stdout)
    if result.returncode != 0 or passed is None:
        raise SystemExit(f"pytest -n {workers} failed:\n{result.stdout[-3000:]}")
    return seconds, int(passed.group(1))


def main() -> int:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false",
                        help="skip the first, uncounted run (the images are already made)")
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    paths = args.paths or list(DEFAULT)
    if args.warm_up:
        run(paths, args.workers, extra)  # images made, not counted
    times: dict[int, list[float]] = {1: [], args.workers: []}
    items = 0
    for _ in range(args.repeat):
        for workers in (1, args.workers):
            seconds, items = run(paths, workers, extra)
            times[workers].append(seconds)
            print(f"-n {workers}: {seconds:.1f}s ({items} items)")
    one, many = statistics.median(times[1]), statistics.median(times[args.workers])
    print(f"scale: speed-up {one / many:.2f}x with -n {args.workers} ({one:.1f}s -> {many:.1f}s, {items} items)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
