"""A user's own image instead of the built-in matrix: an image of a version without templates, or without a user
Dovecot can run as, is refused up front. (The layouts that run: tests/test_official_layouts.py.)"""

from __future__ import annotations

import io
import subprocess
import sys

import docker
import pytest

from harness.provision import images
from tests.conftest import ROOT
from tests.docker_support import docker_client
from tests.test_official_layouts import build_stand_in

pytestmark = pytest.mark.docker

FAKE = "mailhops-test/fake-dovecot:9.9"


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


def test_image_without_an_unprivileged_user_is_refused_before_anything_runs() -> None:
    client = docker_client()
    # The official rootless layout with vmail removed too: no user left for the login and internal processes.
    tag = build_stand_in(client, "no-user-2.4", 1)
    result = run_pytest("scenarios/imap", "--collect-only", "-q", "--dovecot-image", tag)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert (f"--dovecot-image {tag} (dovecot 2.4.1) cannot run the harness's config: its /etc/passwd has none "
            "of the users dovecot, vmail (non-root)") in result.stderr
