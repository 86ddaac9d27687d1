"""Starting one node's container on the scenario network (testcontainers), reading its log, removing it."""

from __future__ import annotations

import contextlib
import re
import uuid

import docker
from docker.models.networks import Network
from testcontainers.core.container import DockerContainer

from harness.provision.labels import SCENARIO
from harness.provision.spec import ContainerSpec


class NodeStartError(RuntimeError):
    """A node did not become ready; the message carries its log tail."""


def container_name(spec: ContainerSpec) -> str:
    """`mailhops-<scenario>-<node>-<short id>`, so `docker ps` during a run says what is what."""
    item = spec.labels.get(SCENARIO, "").rpartition("::")[2]  # `trusted_front[dovecot-2.4.1]` of the node id
    scenario = re.sub(r"[^a-zA-Z0-9_.-]+", "-", item).strip("-.")[:60].strip("-.")
    return f"mailhops-{scenario + '-' if scenario else ''}{spec.name}-{uuid.uuid4().hex[:6]}"


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
        container.with_name(container_name(spec))
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
                wrapped.remove(force=True, v=True)  # and the anonymous volumes an image declares
