"""A user's own server image (e.g. dovecot/dovecot:2.4.1 in GitHub Actions): read its version from the image and
let its kind check and inspect it (its users, ...), before any scenario starts."""

from __future__ import annotations

import docker
import docker.errors

from harness.kinds.registry import of_family
from harness.plan.versions import ServerRelease, major_of, short_version
from harness.provision import images


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
    kind = of_family(family)
    try:
        version = images.read_version(client, tag, list(kind.version_command), user="0")
    except images.ImageError as exc:
        raise ValueError(f"--{family}-image {tag}: cannot read the {family} version: {exc}") from None
    kind.check_image(tag, version)
    inspect(client, family, tag, version)
    major = major_of(version)
    suite = next((r.suite for r in kind.releases if r.major == major), "")
    return ServerRelease(family, major, suite, image=tag, version=version)


def inspect(client: docker.DockerClient, family: str, tag: str, version: str) -> dict[str, str]:
    """What the kind learns from the image's files (without running it); ValueError naming the image and the
    reason when it cannot work."""
    try:
        return of_family(family).inspect_image(lambda path: images.read_file(client, tag, path), version)
    except ValueError as exc:
        raise ValueError(f"--{family}-image {tag} ({family} {short_version(version)}) cannot run the harness's "
                         f"config: {exc}") from None
