"""Benchmark: how long a loop or an over-long chain takes to be dropped, per Dovecot version, in one run.

    .venv/bin/python bench/time_to_drop.py [--repeat 3] [scenario files...]

For each scenario (default: scenarios/loops/*.yaml, ttl/chain_7.yaml, ttl/client_ttl_1.yaml) and version it
prints the median time from the client's connect to the end of its session, which node dropped the login
and why (TTL or self-loop), how many times, and the 2.4/2.3 ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
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
DEFAULT = [*sorted((ROOT / "scenarios" / "loops").glob("*.yaml")), ROOT / "scenarios" / "ttl" / "chain_7.yaml",
           ROOT / "scenarios" / "ttl" / "client_ttl_1.yaml"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    client = docker.from_env(timeout=120)
    images = ImageSet(client)
    session = f"bench-{uuid.uuid4().hex[:8]}"
    medians: dict[tuple[str, str], float] = {}
    releases = labelled_matrix(image_set=lambda: images)["dovecot"]
    print(f"{'scenario':<24} {'version':<12} {'seconds':>8}  dropped by")
    try:
        for file in args.files or DEFAULT:
            scenario = load_scenario(file)
            for release in releases:
                seconds, drops = [], ""
                for _ in range(args.repeat):
                    result = ScenarioRun(scenario, Combination((release,)), images, session,
                                         f"bench:{scenario.name}").execute()
                    seconds.append(float(result.clients[0].replies.get("session_seconds", "nan")))
                    drops = ", ".join(f"{name} ({reason} x{count})" for name, reason, count in _drops(result))
                medians[(scenario.name, release.label)] = statistics.median(seconds)
                print(f"{scenario.name:<24} {release.label:<12} {medians[(scenario.name, release.label)]:>8.2f}  "
                      f"{drops or '-'}")
    finally:
        sweep(client, only_session=session)
    labels = [release.label for release in releases]
    for old, new in zip(labels, labels[1:], strict=False):
        print(f"\nratio {new} / {old}:")
        for name in dict.fromkeys(name for name, _ in medians):
            print(f"  {name:<24} {medians[(name, new)] / max(medians[(name, old)], 0.01):.1f}")
    return 0


def _drops(result):  # type: ignore[no-untyped-def]
    for name, node in result.nodes.items():
        events = node.of_kind("drop")
        for reason in sorted({event.fields.get("reason", "?") for event in events}):
            yield name, reason, sum(event.fields.get("reason") == reason for event in events)


if __name__ == "__main__":
    sys.exit(main())
