"""One scenario on one set of server versions: provision -> drive -> observe -> check. Always cleans up."""

from __future__ import annotations

import contextlib
import os
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import docker
import docker.errors
from docker.models.networks import Network

from harness.check.expect import Verdict, check_scenario
from harness.check.health import Health, check_health
from harness.drive import run_session
from harness.kinds.dovecot import kind as dovecot
from harness.kinds.postfix import kind as postfix
from harness.kinds.relay import kind as relay
from harness.load.scenario import Scenario
from harness.observe.events import ClientTranscript, NodeObservation
from harness.plan.topology import PROTOCOL_PORTS, NodePlan, Plan, plan
from harness.plan.versions import RELAY_SUITE, Combination, ServerRelease, major_of
from harness.provision import images
from harness.provision.container import NodeContainer, NodeStartError, read_greeting, wait_until
from harness.provision.labels import ownership_labels

READY_TIMEOUT_S = float(os.environ.get("MAILHOPS_READY_TIMEOUT", "60"))
SETTLE_TIMEOUT_S = float(os.environ.get("MAILHOPS_SETTLE_TIMEOUT", "8"))
SUBNET_ATTEMPTS = 40
QUIET_S = 0.5
READINESS = {"dovecot": (PROTOCOL_PORTS["imap"], "* OK"), "postfix": (PROTOCOL_PORTS["smtp"], "220 ")}


@dataclass(frozen=True)
class ServerImage:
    release: ServerRelease
    tag: str
    version: str


VERSION_COMMANDS = {"dovecot": ["dovecot", "--version"], "postfix": ["postconf", "-d", "-h", "mail_version"]}


class ImageSet:
    """Server images for this process, made on first use under the cross-process build lock."""

    def __init__(self, client: docker.DockerClient):
        self.client = client
        self._servers: dict[ServerRelease, ServerImage] = {}
        self._relay: str | None = None

    def server(self, release: ServerRelease) -> ServerImage:
        if release not in self._servers:
            if release.image is not None:
                tag = release.image
            else:
                with images.lock():
                    tag = images.server_image(self.client, release.family, release.suite)
            version = images.read_version(self.client, tag, VERSION_COMMANDS[release.family])
            if major_of(version) != release.major:
                raise images.ImageError(f"{tag} has {release.family} {version}, expected {release.major}")
            self._servers[release] = ServerImage(release, tag, version)
        return self._servers[release]

    def relay(self) -> str:
        if self._relay is None:
            with images.lock():
                self._relay = images.server_image(self.client, "relay", RELAY_SUITE)
        return self._relay


@dataclass(frozen=True)
class RunResult:
    plan: Plan
    server_versions: Mapping[str, str]
    verdict: Verdict
    nodes: Mapping[str, NodeObservation]
    clients: tuple[ClientTranscript, ...]
    duration_s: float
    health: Health = Health((), (), ())

    @property
    def passed(self) -> bool:
        """Every expectation held, no undeclared crash, and every declared crash happened."""
        return self.verdict.passed and not self.health.undeclared and not self.health.known_missing


def _target(node: NodePlan, ipv6: bool) -> str:
    if ipv6 and node.address6 is None:
        raise NodeStartError(f"node `{node.name}` has no IPv6 address")
    return node.address6 if ipv6 and node.address6 else node.address


class ScenarioRun:
    def __init__(self, scenario: Scenario, combination: Combination, image_set: ImageSet, session: str, item: str,
                 keep: bool = False, complete_logs: bool = False):
        self.scenario = scenario
        self.combination = combination
        self.images = image_set
        self.client = image_set.client
        self.labels = ownership_labels(session, item)
        self.keep = keep
        self.complete_logs = complete_logs
        """Wait for the logs to go quiet before observing, so two runs record the same lines (drift)."""
        self.containers: dict[str, NodeContainer] = {}
        self.network: Network | None = None

    def execute(self) -> RunResult:
        started = time.monotonic()
        self.servers = {r.family: self.images.server(r) for r in self.combination.releases}
        self.relay_image = self.images.relay() if any(n.kind == "relay" for n in self.scenario.nodes.values()) else ""
        try:
            self.network, subnet, subnet6 = self._create_network()
            versions = {family: server.version.split()[0] for family, server in self.servers.items()}
            the_plan = plan(self.scenario, versions, subnet, subnet6)
            self._start(the_plan)
            transcripts = tuple(
                run_session(index, session, _target(the_plan.nodes[session.to], session.ipv6),
                                    source=the_plan.client_address6 if session.ipv6 else None)
                for index, session in enumerate(self.scenario.clients)
            )
            verdict, observed = self._observe_until_settled(the_plan, transcripts)
            server_versions = {family: server.version for family, server in self.servers.items()}
            health = check_health(observed, self.scenario.known_issues, the_plan.context.version_labels())
            return RunResult(the_plan, server_versions, verdict, observed, transcripts, time.monotonic() - started,
                             health)
        finally:
            if not self.keep:
                self.remove()

    def remove(self) -> None:
        for container in self.containers.values():
            container.remove()
        if self.network is not None:
            with contextlib.suppress(docker.errors.NotFound):
                self.network.remove()

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
        assert self.network is not None
        for node in the_plan.nodes.values():
            if node.kind == "dovecot":
                server = self.servers["dovecot"]
                spec = dovecot.container_spec(node, the_plan, server.tag, server.release.major, self.labels)
            elif node.kind == "postfix":
                spec = postfix.container_spec(node, self.servers["postfix"].tag, self.labels)
            else:
                spec = relay.container_spec(node, self.relay_image, self.labels)
            container = NodeContainer(spec, self.network)
            self.containers[node.name] = container
            container.start()
        for node in the_plan.nodes.values():
            self._wait_ready(node)

    def _wait_ready(self, node: NodePlan) -> None:
        container = self.containers[node.name]
        if node.kind == "relay":
            ready = wait_until(lambda: relay.is_ready(container.log()) or not container.running(), READY_TIMEOUT_S)
            ready = ready and relay.is_ready(container.log())
        else:
            port, greeting = READINESS[node.kind]
            ready = wait_until(
                lambda: not container.running() or (read_greeting(node.address, port) or "").startswith(greeting),
                READY_TIMEOUT_S,
            ) and container.running()
        if not ready:
            tail = "\n".join(container.log().splitlines()[-30:])
            state = "exited" if not container.running() else f"gave no greeting within {READY_TIMEOUT_S:.0f}s"
            raise NodeStartError(f"node `{node.name}` ({node.describe()}) {state}; its log:\n{tail}")

    def _observe(self, the_plan: Plan) -> dict[str, NodeObservation]:
        observed = {}
        for name, node in the_plan.nodes.items():
            log = self.containers[name].log()
            if node.kind == "relay":
                observed[name] = relay.observe(node, log)
            else:
                version = self.servers[node.kind].version.split()[0]
                observe = dovecot.observe if node.kind == "dovecot" else postfix.observe
                observed[name] = observe(node, version, log)
        return observed

    def _observe_until_settled(
        self, the_plan: Plan, transcripts: tuple[ClientTranscript, ...]
    ) -> tuple[Verdict, dict[str, NodeObservation]]:
        """Logs arrive after the client is done: re-read until every expectation holds or the deadline passes."""
        result: list[tuple[Verdict, dict[str, NodeObservation]]] = []

        def settled() -> bool:
            observed = self._observe(the_plan)
            verdict = check_scenario(self.scenario, the_plan.context, observed, transcripts)
            result[:] = [(verdict, observed)]
            return verdict.passed

        wait_until(settled, SETTLE_TIMEOUT_S, interval=0.2)
        if self.complete_logs:
            self._wait_for_quiet_logs()
            observed = self._observe(the_plan)
            result[:] = [(check_scenario(self.scenario, the_plan.context, observed, transcripts), observed)]
        return result[-1]

    def _wait_for_quiet_logs(self) -> None:
        """Until no container has logged anything new for QUIET_S (at most SETTLE_TIMEOUT_S)."""
        sizes: list[tuple[int, ...]] = []
        intervals = max(1, int(QUIET_S / 0.1))

        def quiet() -> bool:
            sizes.append(tuple(len(container.log()) for container in self.containers.values()))
            return len(sizes) > intervals and len(set(sizes[-intervals - 1:])) == 1

        wait_until(quiet, SETTLE_TIMEOUT_S, interval=0.1)
