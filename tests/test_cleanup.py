"""Nothing leaks: containers and networks are labelled and removed after an interrupt (Ctrl-C, SIGTERM), and the
sweep removes what a killed run left. Needs Docker."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from harness.provision.images import ImageSet, labelled_matrix
from harness.provision.labels import OWNER, SESSION, labelled_containers, labelled_networks, ownership_labels, sweep
from tests.docker_support import docker_client

pytestmark = pytest.mark.docker

NEVER_SATISFIED = """\
nodes:
  proxy: {kind: dovecot, role: proxy, to: backend, trust: [client]}
  backend: {kind: dovecot, role: backend, trust: [proxy]}
clients:
  - to: proxy
expect:
  backend:
    login: {rip: 192.0.2.250}   # never true: the run sits in its observation loop until interrupted
"""


def owner_label(pid: int) -> str:
    """The label filter for what the pytest process `pid` created."""
    return f"{OWNER}={socket.gethostname()}:{pid}"


def owned_by(client: docker.DockerClient, pid: int) -> tuple[list[str], list[str]]:
    label = owner_label(pid)
    containers = [c["Id"] for c in labelled_containers(client, label)]
    networks = [n["Id"] for n in labelled_networks(client, label)]
    return containers, networks


def start_run(folder: Path) -> subprocess.Popen[str]:
    (folder / "scenarios").mkdir()
    (folder / "scenarios" / "stuck.yaml").write_text(NEVER_SATISFIED)
    env = {**os.environ, "MAILHOPS_SETTLE_TIMEOUT": "300"}
    return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "harness.pytest.plugin", "scenarios",
                             "--dovecot", "2.4.1",
                             "-q", "-p", "no:cacheprovider"], cwd=folder, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_for_nodes(client: docker.DockerClient, run: subprocess.Popen[str], count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        owned = labelled_containers(client, owner_label(run.pid))
        if sum(c["State"] == "running" for c in owned) >= count:
            return
        assert run.poll() is None, f"the run ended early:\n{run.communicate()[0]}"
        time.sleep(0.2)
    run.kill()
    pytest.fail("the run's containers did not come up")


@pytest.fixture(scope="module")
def dovecot_image() -> None:
    """The runs under test use Dovecot 2.4.1: build its image first, so that on a fresh machine (where its
    debootstrap alone takes minutes) the wait for the run's containers measures the run, not the build."""
    image_set = ImageSet(docker_client())
    releases = labelled_matrix(image_set=lambda: image_set)["dovecot"]
    image_set.server(next(release for release in releases if release.matches("2.4.1")))


@pytest.mark.usefixtures("dovecot_image")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_run_removes_its_containers_and_network(tmp_path: Path, signum: signal.Signals) -> None:
    client = docker_client()
    run = start_run(tmp_path)
    wait_for_nodes(client, run, 2)
    assert owned_by(client, run.pid)[1], "the scenario network should exist while the run is up"
    run.send_signal(signum)
    output, _ = run.communicate(timeout=120)
    assert run.returncode == pytest.ExitCode.INTERRUPTED, output
    assert owned_by(client, run.pid) == ([], []), output


@pytest.mark.usefixtures("dovecot_image")
def test_sweep_removes_what_a_killed_run_left(tmp_path: Path) -> None:
    client = docker_client()
    run = start_run(tmp_path)
    wait_for_nodes(client, run, 2)
    run.kill()
    run.wait(timeout=30)
    left_containers, left_networks = owned_by(client, run.pid)
    assert left_containers and left_networks, "SIGKILL gives no chance to clean up: something must be left"
    sweep(client)  # what every run does at its start
    assert owned_by(client, run.pid) == ([], [])


def test_sweep_keeps_what_a_live_run_owns() -> None:
    client = docker_client()
    network = client.networks.create("mailhops-test-live-owner", labels=ownership_labels("test", "live-owner"))
    try:
        sweep(client)
        assert client.networks.get(network.id).attrs["Labels"][SESSION] == "test"
        sweep(client, only_session="test")
        with pytest.raises(docker.errors.NotFound):
            client.networks.get(network.id)
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            network.remove()


@pytest.mark.usefixtures("dovecot_image")
def test_keep_leaves_the_topology_up_and_says_how_to_reach_it(tmp_path: Path) -> None:
    client = docker_client()
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "kept.yaml").write_text(NEVER_SATISFIED.replace("192.0.2.250", '"@client"'))
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "harness.pytest.plugin", "scenarios",
                            "--dovecot", "2.4.1",
                            "--keep", "-s", "-q", "-p", "no:cacheprovider"], cwd=tmp_path, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output, _ = run.communicate(timeout=300)
    try:
        assert run.returncode == 0, output[-3000:]
        assert "kept for debugging" in output and "docker exec -it" in output
        kept = labelled_containers(client, owner_label(run.pid))
        assert len(kept) == 2 and all(c["State"] == "running" for c in kept), kept
        sweep(client)  # the next run's start: its owner is dead, but it was kept on purpose
        assert len(labelled_containers(client, owner_label(run.pid))) == 2
        assert labelled_networks(client, owner_label(run.pid))
    finally:
        # Only this run's: other tests' runs may be up at the same time.
        for container in labelled_containers(client, owner_label(run.pid)):
            client.api.remove_container(container["Id"], force=True)
        for network in labelled_networks(client, owner_label(run.pid)):
            client.api.remove_network(network["Id"])
