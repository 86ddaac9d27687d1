"""Starting one node's container on the scenario network (testcontainers), reading its log, removing it."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import docker
from docker.models.networks import Network
from testcontainers.core.container import DockerContainer


class NodeStartError(RuntimeError):
    """A node did not become ready; the message carries its log tail."""


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    address: str
    command: Sequence[str]
    env: Mapping[str, str]
    files: Mapping[str, bytes]
    labels: Mapping[str, str]
    address6: str | None = None
    as_root: bool = False
    """Servers run as root with the image's entrypoint reset, so a user's image (rootless, with an entrypoint
    script) runs the harness's own config the same way the built-in images do."""


class NodeContainer:
    """A running container for one node. `log()` is stdout and stderr together, in order."""

    def __init__(self, spec: ContainerSpec, network: Network):
        self.spec = spec
        endpoint = network.client.api.create_endpoint_config(ipv4_address=spec.address,
                                                             ipv6_address=spec.address6)
        container = DockerContainer(spec.image, command=list(spec.command))
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
        self._container = container

    def start(self) -> None:
        self._container.start()

    @property
    def docker_name(self) -> str:
        wrapped = self._container.get_wrapped_container()
        return wrapped.name if wrapped is not None else "(not started)"

    def log(self) -> str:
        wrapped = self._container.get_wrapped_container()
        if wrapped is None:
            return ""
        try:
            return wrapped.logs(stdout=True, stderr=True).decode(errors="replace")
        except docker.errors.NotFound:
            return ""

    def running(self) -> bool:
        wrapped = self._container.get_wrapped_container()
        if wrapped is None:
            return False
        try:
            wrapped.reload()
        except docker.errors.NotFound:
            return False
        return wrapped.status == "running"

    def remove(self) -> None:
        wrapped = self._container.get_wrapped_container()
        if wrapped is not None:
            with contextlib.suppress(docker.errors.NotFound):
                wrapped.remove(force=True)


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass. Returns whether it held."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def read_greeting(address: str, port: int, timeout: float = 2.0) -> str | None:
    """Connect and read one line, or None when nothing answers yet."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = b""
            while not data.endswith(b"\n") and len(data) < 4096:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    return data.decode(errors="replace").strip() or None
