"""Benchmark: wall time of each shipped scenario per Dovecot version, and the 2.4/2.3 ratio, in one run.

    .venv/bin/python bench/scenario_times.py [--repeat 3] [scenario files...]

Prints, per scenario and version, the median wall time of a whole run (network, containers, greeting
waits, client sessions, observation, removal), then the ratio between versions. Images are made first
and not counted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

import docker  # noqa: E402

from harness.load.scenario import load_scenario  # noqa: E402
from harness.pipeline import ScenarioRun  # noqa: E402
from harness.plan.versions import Combination  # noqa: E402
from harness.provision.images import (
    ImageSet,  # noqa: E402
    labelled_matrix,  # noqa: E402
)
from harness.provision.labels import sweep  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    files = args.files or sorted((ROOT / "scenarios").rglob("*.yaml"))
    client = docker.from_env(timeout=120)
    images = ImageSet(client)
    started = time.monotonic()
    releases = labelled_matrix(image_set=lambda: images)["dovecot"]
    for release in releases:
        images.server(release)
    images.own("relay")
    print(f"images ready (cached or built) in {time.monotonic() - started:.2f}s")
    session = f"bench-{uuid.uuid4().hex[:8]}"
    medians: dict[tuple[str, str], float] = {}
    try:
        for file in files:
            scenario = load_scenario(file)
            for release in releases:
                times = []
                for _ in range(args.repeat):
                    result = ScenarioRun(scenario, Combination((release,)), images, session,
                                         f"bench:{scenario.name}").execute()
                    if not result.verdict.passed:
                        print(f"  note: {scenario.name} [{release.label}] did not pass", file=sys.stderr)
                    times.append(result.duration_s)
                medians[(scenario.name, release.label)] = statistics.median(times)
                print(f"{scenario.name:<28} {release.label:<12} median {medians[(scenario.name, release.label)]:.2f}s"
                      f"  (min {min(times):.2f}s, max {max(times):.2f}s, n={len(times)})")
    finally:
        sweep(client, only_session=session)
    labels = [release.label for release in releases]
    total = {label: sum(t for (_, lab), t in medians.items() if lab == label) for label in labels}
    for old, new in zip(labels, labels[1:], strict=False):
        print(f"\nratio {new} / {old}:")
        for name in dict.fromkeys(name for name, _ in medians):
            print(f"  {name:<28} {medians[(name, new)] / medians[(name, old)]:.2f}")
        print(f"  {'all scenarios':<28} {total[new] / total[old]:.2f}  ({total[old]:.2f}s vs {total[new]:.2f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
