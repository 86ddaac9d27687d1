"""Labels on everything the harness creates, and the sweep that removes what a killed run left behind."""

from __future__ import annotations

import os
import socket

import docker
import docker.errors

SESSION = "mailhops.session"
SCENARIO = "mailhops.scenario"
OWNER = "mailhops.owner"


def owner() -> str:
    """`<host>:<pid>` of this process: a sweep may remove what belongs to a dead pid on this host."""
    return f"{socket.gethostname()}:{os.getpid()}"


def ownership_labels(session: str, scenario: str) -> dict[str, str]:
    return {SESSION: session, SCENARIO: scenario[:200], OWNER: owner()}


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


def sweep(client: docker.DockerClient, *, only_session: str | None = None, everything: bool = False) -> int:
    """Remove labelled containers and networks: of one session, of dead owners, or all. Returns how many."""
    removed = 0
    for container in client.containers.list(all=True, filters={"label": SESSION}):
        if _should_remove(container.labels, only_session, everything):
            try:
                container.remove(force=True)
                removed += 1
            except docker.errors.NotFound:
                pass
    for network in client.networks.list(filters={"label": SESSION}):
        if _should_remove(network.attrs.get("Labels") or {}, only_session, everything):
            try:
                network.remove()
                removed += 1
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError:
                pass  # still has endpoints of a live run
    return removed


def _should_remove(labels: dict[str, str], only_session: str | None, everything: bool) -> bool:
    if everything:
        return True
    if only_session is not None:
        return labels.get(SESSION) == only_session and labels.get(OWNER) == owner()
    return not _owner_alive(labels.get(OWNER, ""))
