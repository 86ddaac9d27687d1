"""Benchmark: the harness's time per scenario against the floor, the same topology run with the Docker SDK alone.

    .venv/bin/python bench/floor.py [--repeat 5] [--dovecot 2.4.1] [scenario files...]

For each scenario (default: a small, a medium and the 15-node chain), interleaved, `--repeat` times:
- the harness: `ScenarioRun.execute()` (network, configs, start, ready, drive, settle/observe/check, remove);
- the floor: the same images and the same rendered configs, started straight with the Docker SDK, every node
  created and started at once in threads, each node's readiness awaited at once with the kind's own probe,
  the same client sessions, then everything removed at once. No observation and no checks.
Prints per scenario both medians, the ratio harness/floor and where the harness's time goes; the last line
is the headline: `floor: worst ratio 1.18 (scenario)`. Images are made first and not counted.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import os
import random
import statistics
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

import docker  # noqa: E402
import docker.errors  # noqa: E402

from harness.drive import run_session  # noqa: E402
from harness.kinds import registry  # noqa: E402
from harness.load.scenario import Scenario, load_scenario  # noqa: E402
from harness.pipeline import ScenarioRun  # noqa: E402
from harness.plan.topology import plan  # noqa: E402
from harness.plan.versions import Combination, ServerRelease  # noqa: E402
from harness.provision.images import ImageSet, labelled_matrix  # noqa: E402
from harness.provision.labels import ownership_labels, sweep  # noqa: E402
from harness.provision.probe import read_greeting, wait_until  # noqa: E402
from harness.provision.spec import ContainerSpec  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ("scenarios/imap/trusted_front.yaml", "scenarios/operator/trusted_networks.yaml",
           "scenarios/ttl/chain_7.yaml")
STAGES = ("images", "network", "configs", "start", "ready", "drive", "settle", "remove")


class RawNode:
    """What a kind's readiness probe reads (`greeting()`, `log()`, `running()`), on a container made with the SDK
    alone."""

    def __init__(self, container: Any, address: str):
        self.container = container
        self.address = address

    def greeting(self, port: int) -> str | None:
        return read_greeting(self.address, port)

    def log(self) -> str:
        return str(self.container.logs(stdout=True, stderr=True).decode(errors="replace"))

    def running(self) -> bool:
        self.container.reload()
        return bool(self.container.status == "running")


def at_once(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(16, len(calls)))) as pool:
        return [future.result() for future in [pool.submit(call) for call in calls]]


def tar_of(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def floor_run(client: docker.DockerClient, scenario: Scenario, release: ServerRelease, images: ImageSet,
              session: str, stages: dict[str, list[float]]) -> float:
    """One run of the floor; returns its seconds (the rendering of configs, done before, is not counted) and
    appends each stage's to `stages`."""
    second, third = random.randint(64, 254), random.randint(0, 255)
    subnet = f"10.{second}.{third}.0/24"
    runner = ScenarioRun(scenario, Combination((release,)), images, session, f"floor:{scenario.name}")
    runner.node_images = {name: runner._image_of(name) for name in scenario.nodes}
    the_plan = plan(scenario, {release.family: images.server(release).short_version}, subnet, None,
                    runner._node_versions())
    labels = ownership_labels(session, f"floor:{scenario.name}")
    specs: dict[str, ContainerSpec] = {
        name: registry.get(node.kind).container_spec(node, the_plan, runner.node_images[name], labels)
        for name, node in the_plan.nodes.items()}
    archives = {name: tar_of(spec.files) for name, spec in specs.items()}
    started = mark = time.monotonic()

    def stage(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        stages.setdefault(name, []).append(now - mark)
        mark = now

    network = client.networks.create(f"mailhops-floor-{uuid.uuid4().hex[:8]}", driver="bridge", labels=labels,
                                     ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
                                         subnet=subnet, gateway=f"10.{second}.{third}.1")]))
    containers: dict[str, Any] = {}
    try:
        def start(name: str) -> None:
            spec = specs[name]
            extra: dict[str, Any] = {"user": "0", "entrypoint": [""]} if spec.as_root else {}
            container = client.containers.create(
                spec.image, command=list(spec.command), environment=dict(spec.env), labels=dict(spec.labels),
                hostname=spec.name, name=f"mailhops-floor-{spec.name}-{uuid.uuid4().hex[:6]}",
                network=network.name,
                networking_config={network.name: client.api.create_endpoint_config(ipv4_address=spec.address)},
                **extra)
            containers[name] = container
            if spec.files:
                container.put_archive("/", archives[name])
            container.start()

        stage("network")
        at_once([lambda name=name: start(name) for name in specs])
        stage("start")

        def ready(name: str) -> None:
            node, raw = the_plan.nodes[name], RawNode(containers[name], specs[name].address)
            if not wait_until(lambda: registry.get(node.kind).ready(node, raw), 60):
                raise RuntimeError(f"floor: {name} not ready")

        at_once([lambda name=name: ready(name) for name in specs])
        stage("ready")
        for index, client_session in enumerate(scenario.clients):
            run_session(index, client_session, the_plan.nodes[client_session.to].address)
        stage("drive")
    finally:
        at_once([lambda c=c: c.remove(force=True, v=True) for c in containers.values()])
        network.remove()
        stage("remove")
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dovecot", default="2.4.1", help="the Dovecot (and its generation's) version")
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    files = args.files or [ROOT / name for name in DEFAULT]
    client = docker.from_env(timeout=120)
    images = ImageSet(client)
    release = next(r for r in labelled_matrix(image_set=lambda: images)["dovecot"] if r.label.endswith(args.dovecot))
    scenarios = [load_scenario(file) for file in files]
    images.server(release)
    for scenario in scenarios:  # every image made before anything is timed
        warm = ScenarioRun(scenario, Combination((release,)), images, "warm-up", "bench")
        for name in scenario.nodes:
            warm._image_of(name)
    session = f"bench-{uuid.uuid4().hex[:8]}"
    harness: dict[str, list[float]] = {s.name: [] for s in scenarios}
    floor: dict[str, list[float]] = {s.name: [] for s in scenarios}
    stages: dict[str, dict[str, list[float]]] = {s.name: {stage: [] for stage in STAGES} for s in scenarios}
    floor_stages: dict[str, dict[str, list[float]]] = {s.name: {} for s in scenarios}
    try:
        for _ in range(args.repeat):
            for scenario in scenarios:
                run = ScenarioRun(scenario, Combination((release,)), images, session, f"bench:{scenario.name}")
                result = run.execute()
                if not result.verdict.passed:
                    print(f"  note: {scenario.name} did not pass", file=sys.stderr)
                harness[scenario.name].append(result.duration_s + run.timings.get("remove", 0.0))
                for stage in STAGES:
                    stages[scenario.name][stage].append(run.timings.get(stage, 0.0))
                floor[scenario.name].append(floor_run(client, scenario, release, images, session,
                                                      floor_stages[scenario.name]))
    finally:
        sweep(client, only_session=session)
    print(f"dovecot {release.label}, {args.repeat} runs each, interleaved; medians in seconds")
    print(f"{'scenario':<28} {'nodes':>5} {'harness':>8} {'floor':>7} {'ratio':>6}   " + " ".join(
        f"{stage:>7}" for stage in STAGES))
    ratios = {}
    for scenario in scenarios:
        h, f = statistics.median(harness[scenario.name]), statistics.median(floor[scenario.name])
        ratios[scenario.name] = h / f
        parts = " ".join(f"{statistics.median(stages[scenario.name][stage]):7.2f}" for stage in STAGES)
        print(f"{scenario.name:<28} {len(scenario.nodes):>5} {h:8.2f} {f:7.2f} {h / f:6.2f}   {parts}")
        raw = " ".join(f"{statistics.median(floor_stages[scenario.name].get(stage, [0.0])):7.2f}"
                       if stage in floor_stages[scenario.name] else "      -" for stage in STAGES)
        print(f"{'  (floor)':<57}{raw}")
    worst = max(ratios, key=lambda name: ratios[name])
    print(f"floor: worst ratio {ratios[worst]:.2f} ({worst})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
