"""Labels on everything the harness creates, and the sweep that removes what a killed run left behind."""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any

import docker
import docker.errors

SESSION = "mailhops.session"
SCENARIO = "mailhops.scenario"
OWNER = "mailhops.owner"
KEPT = "mailhops.kept"
"""On what a `--keep` run left up on purpose: only `mailhops sweep` removes it, not another run's sweep of dead
owners."""


def owner() -> str:
    """`<host>:<pid>` of this process: a sweep may remove what belongs to a dead pid on this host."""
    return f"{socket.gethostname()}:{os.getpid()}"


def ownership_labels(session: str, scenario: str, kept: bool = False) -> dict[str, str]:
    return {SESSION: session, SCENARIO: scenario[:200], OWNER: owner(), **({KEPT: "1"} if kept else {})}


def _owner_alive(value: str) -> bool:
    host, _, pid = value.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


CONFLICT = 409


def sweep(client: docker.DockerClient, *, only_session: str | None = None, everything: bool = False,
          with_kept: bool = False) -> int:
    """Remove labelled containers and networks: of one session, of dead owners (and, `with_kept`, what `--keep`
    runs left up), or all, live runs' included. Returns how many.

    Uses the low-level API: listing with the high-level one inspects each container, which races with
    other runs removing theirs."""
    removed = 0
    for container in labelled_containers(client):
        if should_remove(container.get("Labels") or {}, only_session, everything, with_kept):
            try:
                client.api.remove_container(container["Id"], force=True, v=True)
                removed += 1
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if exc.status_code != CONFLICT:  # 409: "removal ... is already in progress" (going away)
                    raise
    for network in labelled_networks(client):
        if should_remove(network.get("Labels") or {}, only_session, everything, with_kept):
            # NotFound: gone already; APIError: still has endpoints of a live run.
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                client.api.remove_network(network["Id"])
                removed += 1
    return removed


def labelled_containers(client: docker.DockerClient, label: str = SESSION) -> list[dict[str, Any]]:
    """Containers (as the engine lists them: Id, Names, Labels, ...) carrying `label` (`key` or `key=value`)."""
    return list(client.api.containers(all=True, filters={"label": label}))


def labelled_networks(client: docker.DockerClient, label: str = SESSION) -> list[dict[str, Any]]:
    return list(client.api.networks(filters={"label": label}))


def should_remove(labels: dict[str, str], only_session: str | None, everything: bool, with_kept: bool) -> bool:
    if everything:
        return True
    if labels.get(KEPT):
        return with_kept
    if only_session is not None:
        return labels.get(SESSION) == only_session and labels.get(OWNER) == owner()
    return not _owner_alive(labels.get(OWNER, ""))
