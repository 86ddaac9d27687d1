"""A user's own server image (e.g. dovecot/dovecot:2.4.1 in GitHub Actions): read its version from the image and
check there are config templates for it, before any scenario starts."""

from __future__ import annotations

import docker
import docker.errors

from harness.kinds.dovecot.kind import template_majors
from harness.pipeline import VERSION_COMMANDS
from harness.plan.versions import RELEASES, ServerRelease, major_of
from harness.provision import images

POSTFIX_MAJORS_WITH_CONFIG = ("3",)
"""fixtures/postfix/main.cf uses nothing that changed across Postfix 3.x."""


def user_release(family: str, tag: str) -> ServerRelease:
    """The release an image holds; ValueError with a clear message when it can't be run."""
    client = docker.from_env(timeout=120)
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        try:
            client.images.pull(tag)
        except docker.errors.DockerException as exc:
            raise ValueError(f"--{family}-image {tag}: not found locally and not pullable: {exc}") from None
    try:
        version = images.read_version(client, tag, VERSION_COMMANDS[family], user="0")
    except images.ImageError as exc:
        raise ValueError(f"--{family}-image {tag}: cannot read the {family} version: {exc}") from None
    major = major_of(version)
    check_templates(family, major, tag, version)
    suite = next((r.suite for r in RELEASES[family] if r.major == major), "")
    return ServerRelease(family, major, suite, image=tag, version=version)


def check_templates(family: str, major: str, tag: str, version: str) -> None:
    if family == "dovecot" and major not in template_majors():
        raise ValueError(f"--dovecot-image {tag} has Dovecot {version}: no config templates for {major} "
                         f"(fixtures/dovecot/ has {', '.join(template_majors())})")
    if family == "postfix" and major.split(".")[0] not in POSTFIX_MAJORS_WITH_CONFIG:
        raise ValueError(f"--postfix-image {tag} has Postfix {version}: fixtures/postfix/main.cf is for Postfix 3.x")
