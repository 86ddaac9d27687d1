"""A user's own image instead of the built-in matrix: the version is read from the image, item ids carry it,
an image with its own entrypoint and user still runs, and a version without templates is refused up front."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from harness.kinds import registry
from harness.provision import images
from tests.conftest import ROOT
from tests.docker_support import docker_client

pytestmark = pytest.mark.docker

FAKE = "mailhops-test/fake-dovecot:9.9"
ROOTLESS = "mailhops-test/rootless-dovecot:2.4"


def build(client: docker.DockerClient, dockerfile: str, tag: str) -> None:
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, labels={"mailhops.test": "1"})


def run_pytest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)


def test_image_without_templates_is_refused_before_anything_runs() -> None:
    client = docker_client()
    with images.lock():
        base = images.base_image(client, "bookworm")
    build(client, f"FROM {base}\nRUN printf '#!/bin/sh\\necho \"9.9.0 (fake)\"\\n' > /usr/local/bin/dovecot "
                  "&& chmod +x /usr/local/bin/dovecot\n", FAKE)
    result = run_pytest("scenarios/imap", "--collect-only", "-q", "--dovecot-image", FAKE)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert (f"--dovecot-image {FAKE} has Dovecot 9.9.0 (fake): no config templates for 9.9 "
            "(harness/kinds/dovecot/ has 2.3, 2.4)") in result.stderr


def test_rootless_image_with_entrypoint_runs_and_ids_carry_its_version(tmp_path: Path) -> None:
    client = docker_client()
    with images.lock():
        ours = images.build(client, registry.of_family("dovecot").recipe(registry.of_family("dovecot").releases[-1]))
    # Like the official images: an unprivileged default user and an entrypoint of their own.
    build(client, f"FROM {ours}\nRUN useradd -u 1000 vmail\nUSER vmail\nENTRYPOINT [\"/bin/false\"]\n", ROOTLESS)
    junit = tmp_path / "junit.xml"
    result = run_pytest("scenarios/imap/trusted_front.yaml", "scenarios/imap/proxy_sends.yaml",
                        "--dovecot-image", ROOTLESS, f"--junitxml={junit}", "-rA")
    assert result.returncode == 0, result.stdout[-4000:]
    assert "trusted_front[dovecot-2.4.1]" in result.stdout and "proxy_sends[dovecot-2.4.1]" in result.stdout
    assert "[dovecot-2.3]" not in result.stdout
