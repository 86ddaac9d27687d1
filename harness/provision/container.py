"""Starting one node's container on the scenario network (testcontainers), reading its log, removing it."""

from __future__ import annotations

import codecs
import contextlib
import re
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

import docker
from docker.models.networks import Network
from testcontainers.core.container import DockerContainer

from harness.provision.endpoints import EndpointTurns
from harness.provision.labels import SCENARIO
from harness.provision.probe import log_barrier, read_greeting, wait_until, without_probe_lines
from harness.provision.spec import ContainerSpec


class NodeStartError(RuntimeError):
    """A node did not become ready; the message carries its log tail."""


def container_name(spec: ContainerSpec) -> str:
    """`mailhops-<scenario>-<node>-<short id>`, so `docker ps` during a run says what is what."""
    item = spec.labels.get(SCENARIO, "").rpartition("::")[2]  # `trusted_front[dovecot-2.4.1]` of the node id
    scenario = re.sub(r"[^a-zA-Z0-9_.-]+", "-", item).strip("-.")[:60].strip("-.")
    return f"mailhops-{scenario + '-' if scenario else ''}{spec.name}-{uuid.uuid4().hex[:6]}"


class _TurnTakingDocker:
    """testcontainers' Docker client for one container, whose start waits for the network's endpoint turn."""

    def __init__(self, client: Any, turns: EndpointTurns):
        self._client = client
        self._turns = turns

    def start(self, container: Any) -> None:
        self._turns.creating(container.id, lambda: self._client.start(container))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _NodeDockerContainer(DockerContainer):
    turns: EndpointTurns | None = None

    def get_docker_client(self) -> Any:
        client = super().get_docker_client()
        return _TurnTakingDocker(client, self.turns) if self.turns is not None else client


class LogFollower:
    """A container's log as it is written: one thread follows the engine's stream (stdout and stderr together,
    in order), so reading the log costs nothing and a poll never re-reads what came before."""

    def __init__(self, chunks: Iterable[bytes]):
        self._parts: list[str] = []
        self.grown_at = time.monotonic()
        self._lock = threading.Lock()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        threading.Thread(target=self._follow, args=(chunks,), daemon=True, name="log-follower").start()

    def _follow(self, chunks: Iterable[bytes]) -> None:
        try:
            for chunk in chunks:
                self._append(self._decoder.decode(chunk))
        except Exception:  # noqa: BLE001 - the container went away: the log is what was read
            pass
        finally:
            self._append(self._decoder.decode(b"", final=True))

    def _append(self, text: str) -> None:
        if text:
            with self._lock:
                self._parts.append(text)
                self.grown_at = time.monotonic()

    def replace(self, text: str) -> None:
        """What the engine has now, where the stream fell behind it (see NodeContainer.reread_log)."""
        with self._lock:
            self._parts[:] = [text]
            self.grown_at = time.monotonic()

    def text(self) -> str:
        with self._lock:
            if len(self._parts) > 1:
                self._parts[:] = ["".join(self._parts)]
            return self._parts[0] if self._parts else ""


class NodeContainer:
    """A running container for one node. `log()` is stdout and stderr together, in order."""

    def __init__(self, spec: ContainerSpec, network: Network):
        self.spec = spec
        self._network = network
        endpoint = network.client.api.create_endpoint_config(ipv4_address=spec.address,
                                                             ipv6_address=spec.address6)
        container = _NodeDockerContainer(spec.image, command=list(spec.command))
        for key, value in spec.env.items():
            container.with_env(key, value)
        for path, data in spec.files.items():
            container.with_copy_into_container(data, path)
        extra = {"user": "0", "entrypoint": [""]} if spec.as_root else {}
        container.with_kwargs(
            network=network.name,
            networking_config={network.name: endpoint},
            labels=dict(spec.labels),
            hostname=spec.name,
            **extra,
        )
        container.with_name(container_name(spec))
        self._container = container
        self._log: LogFollower | None = None
        self.probes: list[tuple[str, int]] = []
        """The readiness probes' own endpoints (address, port)."""
        self.own_markers: set[str] = set()

    def greeting(self, port: int) -> str | None:
        """A readiness probe: the greeting on `port`, or None; the probe's endpoint is remembered."""
        return read_greeting(self.spec.address, port, on_connect=lambda *endpoint: self.probes.append(endpoint))

    def probe_barrier(self, port: int, timeout: float, rounds: int = 2) -> bool:
        """Whether the log is known to hold every line written before now, by probe connections on `port` whose
        close the server logs (see `probe.log_barrier`); the probes' lines are dropped like the readiness
        probes'."""
        return log_barrier(self.spec.address, port, self.log, lambda *endpoint: self.probes.append(endpoint),
                           timeout, rounds)

    def signal_barrier(self, signal: str, marker: str, timeout: float) -> bool:
        """Whether the log is known to hold every line written before now, for a process that answers `signal`
        by writing a line containing `marker` through the writer all its lines go through; such lines are
        the harness's own and are dropped from `scenario_log()`."""
        wrapped = self._container.get_wrapped_container()
        if wrapped is None:
            return False
        self.own_markers.add(marker)
        start = len(self.log())
        try:
            wrapped.kill(signal=signal)
        except docker.errors.APIError:
            return False
        return wait_until(lambda: marker in self.log()[start:], timeout, interval=0.005)

    def scenario_log(self) -> str:
        """The log without the harness's own traffic: its probes' lines and its barriers' markers."""
        log = without_probe_lines(self.log(), self.probes)
        if not self.own_markers:
            return log
        return "".join(line for line in log.splitlines(keepends=True)
                       if not any(marker in line for marker in self.own_markers))

    def start(self, turns: EndpointTurns | None = None) -> None:
        """Created and started (with `turns`: the endpoint created in the network's turn, see endpoints.py)."""
        self._container.turns = turns
        self._container.start()
        wrapped = self._container.get_wrapped_container()
        self._log = LogFollower(wrapped.logs(stdout=True, stderr=True, stream=True, follow=True))

    @property
    def docker_name(self) -> str:
        wrapped = self._container.get_wrapped_container()
        return wrapped.name if wrapped is not None else "(not started)"

    def log(self) -> str:
        """Everything the container has written so far (followed as it is written)."""
        return self._log.text() if self._log is not None else ""

    def reread_log(self) -> bool:
        """Before a failing verdict is given: read the whole log from the engine once more, and take it where the
        followed stream holds less (a stream that broke under load must not make a hop look silent). Returns
        whether it held more."""
        wrapped = self._container.get_wrapped_container()
        if wrapped is None or self._log is None:
            return False
        try:
            text = wrapped.logs(stdout=True, stderr=True).decode(errors="replace")
        except docker.errors.APIError:
            return False
        if len(text) <= len(self._log.text()):
            return False
        self._log.replace(text)
        return True

    def log_idle_s(self) -> float:
        """Seconds since the log last grew."""
        return time.monotonic() - self._log.grown_at if self._log is not None else float("inf")

    def running(self) -> bool:
        wrapped = self._container.get_wrapped_container()
        if wrapped is None:
            return False
        try:
            wrapped.reload()
        except docker.errors.NotFound:
            return False
        return wrapped.status == "running"

    def remove(self, turns: EndpointTurns | None = None) -> None:
        """Removed with its anonymous volumes; with `turns`, disconnected from the network in its turn first."""
        wrapped = self._container.get_wrapped_container()
        if wrapped is None:
            return
        if turns is not None:
            with contextlib.suppress(docker.errors.APIError):  # gone, or no endpoint left (it exited)
                turns.deleting(lambda: self._network.disconnect(wrapped.id, force=True))
        with contextlib.suppress(docker.errors.NotFound):
            wrapped.remove(force=True, v=True)
