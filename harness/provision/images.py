"""Base images (pulled, or bootstrapped with debootstrap when no registry answers) and server images,
tagged by content so a second run builds nothing, built once across pytest-xdist workers (a file lock)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import docker
import docker.errors
from filelock import FileLock

from harness.kinds.base import ImageRecipe, NodeImage
from harness.kinds.registry import get as kind_named
from harness.kinds.registry import of_family
from harness.plan.versions import ServerRelease, major_of
from harness.provision.labels import ownership_labels

MIRROR = os.environ.get("MAILHOPS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PULL_TIMEOUT_S = 60
BUILD_TIMEOUT_S = 900
LOCK_TIMEOUT_S = 1800


class ImageError(RuntimeError):
    """An image could not be made; the message says which and why."""


def lock() -> FileLock:
    return FileLock(Path(tempfile.gettempdir()) / "mailhops-images.lock", timeout=LOCK_TIMEOUT_S)


def base_image(client: docker.DockerClient, suite: str) -> str:
    """`mailhops/base:<suite>`: from `debian:<suite>-slim` if a registry answers, else debootstrap + import."""
    tag = f"mailhops/base:{suite}"
    if _exists(client, tag):
        return tag
    source = os.environ.get("MAILHOPS_BASE_SOURCE", "auto")
    if source in ("auto", "pull") and _pull(client, f"debian:{suite}-slim"):
        client.images.get(f"debian:{suite}-slim").tag(tag)
        return tag
    if source == "pull":
        raise ImageError(f"could not pull debian:{suite}-slim and MAILHOPS_BASE_SOURCE=pull")
    _debootstrap(suite, tag)
    return tag


def build(client: docker.DockerClient, recipe: ImageRecipe) -> str:
    """`mailhops/<name>:<suite>-<hash>`: the recipe's Dockerfile on the suite's base image, built if missing."""
    base = base_image(client, recipe.suite)
    digest = hashlib.sha256(client.images.get(base).id.encode())
    for name, data in sorted(recipe.files.items()):
        digest.update(name.encode() + b"\0" + data + b"\0")
    tag = f"mailhops/{recipe.name}:{recipe.suite}-{digest.hexdigest()[:12]}"
    if not _exists(client, tag):
        _build(client, dict(recipe.files), base, tag)
    return tag


def _build(client: docker.DockerClient, files: dict[str, bytes], base: str, tag: str) -> None:
    with tempfile.TemporaryDirectory(prefix="mailhops-build-") as directory:
        for name, data in files.items():
            target = Path(directory) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        try:
            client.images.build(path=directory, tag=tag, buildargs={"BASE": base}, rm=True, forcerm=True,
                                labels={"mailhops.image": tag},
                                timeout=BUILD_TIMEOUT_S)
        except docker.errors.BuildError as exc:
            tail = "".join(str(chunk.get("stream", chunk.get("error", ""))) for chunk in exc.build_log)[-3000:]
            raise ImageError(f"building {tag} failed: {exc.msg}\n{tail}") from exc


def _exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def _pull(client: docker.DockerClient, reference: str) -> bool:
    """Try a pull with a deadline; False when no registry answers in time."""
    result: list[bool] = []

    def attempt() -> None:
        try:
            client.images.pull(reference)
            result.append(True)
        except docker.errors.DockerException:
            result.append(False)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(PULL_TIMEOUT_S)
    return bool(result and result[0])


def _debootstrap(suite: str, tag: str) -> None:
    if shutil.which("debootstrap") is None:
        raise ImageError(f"no registry answered for debian:{suite}-slim and debootstrap is not installed "
                         "(run scripts/setup.sh, or apt-get install debootstrap)")
    with tempfile.TemporaryDirectory(prefix=f"mailhops-rootfs-{suite}-") as rootfs:
        run = subprocess.run(["debootstrap", "--variant=minbase", suite, rootfs, MIRROR],
                             capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        if run.returncode != 0:
            raise ImageError(f"debootstrap {suite} failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "-c", 'CMD ["/bin/bash"]', "-", tag],
                                  stdin=tar.stdout, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        tar.wait(timeout=BUILD_TIMEOUT_S)
        if imported.returncode != 0:
            raise ImageError(f"docker import of the {suite} rootfs failed: {imported.stderr}")


def read_version(client: docker.DockerClient, image: str, command: list[str], user: str | None = None) -> str:
    """Run `command` in a throw-away container of `image` and return its first output line."""
    container = client.containers.create(image, command=command, entrypoint=[""], user=user or "",
                                         labels=ownership_labels("images", "version-probe"))
    try:
        container.start()
        status = container.wait(timeout=60)
        output = container.logs(stdout=True, stderr=True).decode(errors="replace").strip()
    finally:
        container.remove(force=True)
    if status.get("StatusCode") != 0 or not output:
        raise ImageError(f"`{' '.join(command)}` failed in {image}: {output or status}")
    return output.splitlines()[0]


class ImageSet:
    """The images of this process's nodes, made on first use under the cross-process build lock: one per server
    release, one per kind of the harness's own (relay, ...)."""

    def __init__(self, client: docker.DockerClient):
        self.client = client
        self._servers: dict[ServerRelease, NodeImage] = {}
        self._own: dict[str, NodeImage] = {}

    def server(self, release: ServerRelease) -> NodeImage:
        if release not in self._servers:
            kind = of_family(release.family)
            if release.image is not None:
                tag = release.image
            else:
                with lock():
                    tag = build(self.client, kind.recipe(release))
            version = read_version(self.client, tag, list(kind.version_command))
            if major_of(version) != release.major:
                raise ImageError(f"{tag} has {release.family} {version}, expected {release.major}")
            self._servers[release] = NodeImage(tag, release, version)
        return self._servers[release]

    def own(self, kind_name: str) -> NodeImage:
        """The image of a kind without versions."""
        if kind_name not in self._own:
            with lock():
                self._own[kind_name] = NodeImage(build(self.client, kind_named(kind_name).recipe(None)))
        return self._own[kind_name]
