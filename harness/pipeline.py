"""One scenario on one set of server versions, through the stages in order: plan -> provision -> drive ->
observe + check (settled, see harness/observe/settle.py) -> a RunResult for the report stage. Always cleans up.
Nothing here knows a node kind by name: each node's kind (harness/kinds/) supplies its image, container, readiness
probe and observation parser."""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence

import docker
import docker.errors
from docker.models.networks import Network

from harness.check.expect import Verdict, check_scenario
from harness.check.health import check_health
from harness.drive import run_session
from harness.kinds import registry
from harness.kinds.base import NodeImage
from harness.load.scenario import Scenario
from harness.observe.events import NodeObservation
from harness.observe.settle import BARRIER_TIMEOUT_S, QUIET_S, settle, wait_for_quiet
from harness.plan.topology import NodePlan, Plan, plan
from harness.plan.versions import Combination, ServerRelease
from harness.provision.container import NodeContainer, NodeStartError
from harness.provision.endpoints import EndpointTurns
from harness.provision.images import ImageSet
from harness.provision.labels import ownership_labels
from harness.provision.probe import wait_until
from harness.report.result import RunResult

READY_TIMEOUT_S = float(os.environ.get("MAILHOPS_READY_TIMEOUT", "60"))
SUBNET_ATTEMPTS = 40
NETWORK_REMOVE_TIMEOUT_S = 10.0
PARALLEL_CALLS = 16


def remove_network(network: Network, names: Sequence[str] = ()) -> None:
    """Remove the network once the engine has let go of its containers. A refusal for "active endpoints" is
    retried for a few seconds, disconnecting by force the endpoints the network still lists and the scenario's
    containers by name. What such a refusal was in soaks, a count of endpoints gone wrong in the engine, the
    endpoint turns prevent (harness/provision/endpoints.py); this stays for an endpoint really left behind."""
    failure: list[docker.errors.APIError] = []

    def removed() -> bool:
        try:
            network.remove()
        except docker.errors.NotFound:
            return True
        except docker.errors.APIError as exc:
            if "active endpoints" not in str(exc):
                raise
            failure[:] = [exc]
            with contextlib.suppress(docker.errors.APIError):
                network.reload()
            for container in [*(network.attrs.get("Containers") or {}), *names]:
                with contextlib.suppress(docker.errors.APIError):
                    network.disconnect(container, force=True)
            return False
        return True

    if not wait_until(removed, NETWORK_REMOVE_TIMEOUT_S, interval=0.1):
        raise failure[0]


def _target(node: NodePlan, ipv6: bool) -> str:
    if ipv6 and node.address6 is None:
        raise NodeStartError(f"node `{node.name}` has no IPv6 address")
    return node.address6 if ipv6 and node.address6 else node.address


def _all_at_once(calls: Sequence[Callable[[], None]]) -> None:
    """Run the calls in threads (Docker's API calls wait mostly on the engine); the first exception is raised
    once every call has ended, so no container is still being created when the run removes its containers."""
    if len(calls) <= 1:
        for call in calls:
            call()
        return
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(PARALLEL_CALLS, len(calls)))
    try:
        futures = [pool.submit(call) for call in calls]
        concurrent.futures.wait(futures)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for future in futures:
        if not future.cancelled() and future.exception() is not None:
            raise future.exception()  # type: ignore[misc]


class ScenarioRun:
    def __init__(self, scenario: Scenario, combination: Combination, image_set: ImageSet, session: str, item: str,
                 keep: bool = False, complete_logs: bool = False):
        self.scenario = scenario
        self.combination = combination
        self.images = image_set
        self.client = image_set.client
        self.labels = ownership_labels(session, item, kept=keep)
        self.keep = keep
        self.complete_logs = complete_logs
        """Wait until the logs are complete before observing, so two runs record the same lines (drift)."""
        self.containers: dict[str, NodeContainer] = {}
        self.network: Network | None = None
        self.complete_by_barrier: frozenset[str] = frozenset()
        """The nodes whose logs the last settle found complete by their barrier (the others: by QUIET_S)."""
        self.timings: dict[str, float] = {}
        """Seconds per stage of the last execute(): images, network, configs, start, ready, drive, settle,
        remove (bench/floor.py prints them)."""

    @contextlib.contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - started

    def execute(self) -> RunResult:
        started = time.monotonic()
        self.timings = {}
        with self._stage("images"):
            self.servers = {r.family: self.images.server(r) for r in self.combination.releases}
            self.node_images = {name: self._image_of(name) for name in self.scenario.nodes}
        try:
            with self._stage("network"):
                self.network, subnet, subnet6 = self._create_network()
                versions = {family: image.short_version for family, image in self.servers.items()}
                the_plan = plan(self.scenario, versions, subnet, subnet6, self._node_versions())
            self._start(the_plan)
            with self._stage("drive"):
                transcripts = tuple(
                    run_session(index, session, _target(the_plan.nodes[session.to], session.ipv6),
                                source=the_plan.client_address6 if session.ipv6 else None)
                    for index, session in enumerate(self.scenario.clients)
                )
            with self._stage("settle"):
                def check(nodes: dict[str, NodeObservation]) -> Verdict:
                    return check_scenario(self.scenario, the_plan.context, nodes, transcripts)

                verdict, observed = settle(
                    lambda: self._observe(the_plan),
                    check,
                    lambda: self._wait_complete_logs(the_plan),
                    complete=self.complete_logs,
                )
                if not verdict.passed and any([c.reread_log() for c in self.containers.values()]):
                    observed = self._observe(the_plan)
                    verdict = check(observed)
                server_versions = self._server_versions()
                health = check_health(observed, self.scenario.known_issues, the_plan.context.all_labels())
            return RunResult(the_plan, server_versions, verdict, observed, transcripts, time.monotonic() - started,
                             health)
        finally:
            if not self.keep:
                with self._stage("remove"):
                    self.remove()

    def _image_of(self, name: str) -> NodeImage:
        node = self.scenario.nodes[name]
        family = registry.get(node.kind).family
        if family is None:
            return self.images.own(node.kind, self._generation())
        return self.images.server(self.combination.release(family, self.scenario.tier_of(name)))

    def _generation(self) -> ServerRelease | None:
        """The release whose Debian suite the harness's own hops are built from (HAProxy, nginx)."""
        return next((release for release in self.combination.releases if release.suite), None)

    def _node_versions(self) -> dict[str, dict[str, str]]:
        """node -> {family: version}: a server's own; a hop of the harness's own records what its sender sent,
        so it is checked against its sender's version."""
        found = {}
        for name in self.node_images:
            image = self.node_images.get(self._sender_server(name) or "")
            if image is not None and image.release is not None:
                found[name] = {image.release.family: image.short_version}
        return found

    def _sender_server(self, name: str) -> str | None:
        """The server itself, or the server that sends to this hop (through other hops of the harness's own)."""
        seen: set[str] = set()
        current: str | None = name
        while current is not None and current not in seen:
            seen.add(current)
            if registry.get(self.scenario.nodes[current].kind).family is not None:
                return current
            current = next((other for other, spec in self.scenario.nodes.items() if spec.to == current), None)
        return None

    def _server_versions(self) -> dict[str, str]:
        """family -> the version (with its Debian package) its nodes run; per tier in a rollout state."""
        found: dict[str, dict[str, str]] = {}
        for name, image in self.node_images.items():
            if image.release is None:
                continue
            text = (image.version or "") + (f" [{image.package}]" if image.package else "")
            tier = self.scenario.tier_of(name) or ""
            found.setdefault(image.release.family, {}).setdefault(tier, text)
        return {family: next(iter(tiers.values())) if len(set(tiers.values())) == 1 else
                ", ".join(f"{tier}: {text}" for tier, text in tiers.items()) for family, tiers in found.items()}

    def remove(self) -> None:
        names = [container.docker_name for container in self.containers.values()]
        turns = EndpointTurns(self.client, self.network.id) if self.network is not None else None
        _all_at_once([functools.partial(container.remove, turns) for container in self.containers.values()])
        if self.network is not None:
            remove_network(self.network, names)

    def _create_network(self) -> tuple[Network, str, str | None]:
        """A private /24 (and a ULA /64 with `ipv6: true`) picked at random; a clash with another run's
        network is retried with another pick."""
        name = f"mailhops-{uuid.uuid4().hex[:12]}"
        for _ in range(SUBNET_ATTEMPTS):
            second, third = random.randint(64, 254), random.randint(0, 255)
            subnet = f"10.{second}.{third}.0/24"
            pools = [docker.types.IPAMPool(subnet=subnet, gateway=f"10.{second}.{third}.1")]
            subnet6 = f"fd6d:6800:{second:x}:{third:x}::/64" if self.scenario.ipv6 else None
            if subnet6:
                pools.append(docker.types.IPAMPool(subnet=subnet6, gateway=subnet6.replace("::/64", "::1")))
            ipam = docker.types.IPAMConfig(pool_configs=pools)
            try:
                network = self.client.networks.create(name, driver="bridge", ipam=ipam, labels=self.labels,
                                                      enable_ipv6=bool(subnet6))
                return network, subnet, subnet6
            except docker.errors.APIError as exc:
                if "overlap" not in str(exc).lower():
                    raise
        raise RuntimeError(f"no free /24 found in 10.64.0.0/10 after {SUBNET_ATTEMPTS} attempts")

    def _start(self, the_plan: Plan) -> None:
        """Every node created and started at once, then every node's readiness awaited at once."""
        assert self.network is not None
        with self._stage("configs"):
            for node in the_plan.nodes.values():
                kind = registry.get(node.kind)
                spec = kind.container_spec(node, the_plan, self.node_images[node.name], self.labels)
                self.containers[node.name] = NodeContainer(spec, self.network)
        with self._stage("start"), EndpointTurns(self.client, self.network.id).following_connects() as turns:
            _all_at_once([functools.partial(container.start, turns) for container in self.containers.values()])
        with self._stage("ready"):
            _all_at_once([functools.partial(self._wait_ready, node) for node in the_plan.nodes.values()])

    def _wait_ready(self, node: NodePlan) -> None:
        container = self.containers[node.name]
        kind = registry.get(node.kind)
        state = {"ready": False}

        def ready_or_exited() -> bool:
            state["ready"] = kind.ready(node, container)
            return state["ready"] or not container.running()

        wait_until(ready_or_exited, READY_TIMEOUT_S)
        if not (state["ready"] and container.running()):
            tail = "\n".join(container.log().splitlines()[-30:])
            why = "exited" if not container.running() else f"was not ready within {READY_TIMEOUT_S:.0f}s"
            raise NodeStartError(f"node `{node.name}` ({node.describe()}) {why}; its log:\n{tail}")

    def _wait_complete_logs(self, the_plan: Plan) -> None:
        """Every node's log complete by the settle rule: each node's barrier, unless work goes on; else quiet."""
        kinds = {name: registry.get(node.kind) for name, node in the_plan.nodes.items()}
        caught_up: set[str] = set()

        def barrier(name: str) -> None:
            if kinds[name].log_barrier(the_plan.nodes[name], self.containers[name], BARRIER_TIMEOUT_S):
                caught_up.add(name)

        if not the_plan.loops:
            _all_at_once([functools.partial(barrier, name) for name in the_plan.nodes])
        if any(kinds[name].work_in_progress(self.containers[name].scenario_log()) for name in caught_up):
            caught_up.clear()
        self.complete_by_barrier = frozenset(caught_up)
        wait_for_quiet([(container.log_idle_s, QUIET_S) for name, container in self.containers.items()
                        if name not in caught_up])

    def _observe(self, the_plan: Plan) -> dict[str, NodeObservation]:
        return {name: registry.get(node.kind).observe(node, self.node_images[name],
                                                      self.containers[name].scenario_log())
                for name, node in the_plan.nodes.items()}
