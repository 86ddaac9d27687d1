"""Base images (pulled, or bootstrapped with debootstrap when no registry answers) and server images,
tagged by content so a second run builds nothing, built once across pytest-xdist workers (a file lock)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import docker
import docker.errors
from filelock import FileLock

from harness.kinds.base import ImageRecipe, NodeImage
from harness.kinds.registry import get as kind_named
from harness.kinds.registry import of_family
from harness.plan.versions import MatrixError, ServerRelease, VersionOf, major_of, matrix, short_version
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
    """`mailhops/debian:<suite>`: `debian:<suite>-slim` if a registry answers, else debootstrap + import; either
    way apt sees the suite's updates and security archives, as an operator's machine does."""
    tag = f"mailhops/debian:{suite}"
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
    for name, value in sorted(recipe.buildargs.items()):
        digest.update(f"--build-arg {name}={value}\0".encode())
    tag = f"mailhops/{recipe.name}:{recipe.suite}-{digest.hexdigest()[:12]}"
    if not _exists(client, tag):
        _build(client, dict(recipe.files), {**recipe.buildargs, "BASE": base}, tag)
    return tag


def _build(client: docker.DockerClient, files: dict[str, bytes], buildargs: dict[str, str], tag: str) -> None:
    with tempfile.TemporaryDirectory(prefix="mailhops-build-") as directory:
        for name, data in files.items():
            target = Path(directory) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        try:
            client.images.build(path=directory, tag=tag, buildargs=buildargs, rm=True, forcerm=True,
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
        run = subprocess.run(["debootstrap", "--variant=minbase", suite, rootfs, MIRROR, *_script_for(suite)],
                             capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        if run.returncode != 0:
            raise ImageError(f"debootstrap {suite} failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
        (Path(rootfs) / "etc" / "apt" / "sources.list").write_text(sources_list(suite))
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "-c", 'CMD ["/bin/bash"]', "-", tag],
                                  stdin=tar.stdout, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        tar.wait(timeout=BUILD_TIMEOUT_S)
        if imported.returncode != 0:
            raise ImageError(f"docker import of the {suite} rootfs failed: {imported.stderr}")


def read_file(client: docker.DockerClient, image: str, path: str) -> bytes | None:
    """A file of an image, copied out of a container that is created but never started (works on images without
    a shell or any tool); None if the image has no such file."""
    container = client.containers.create(image, command=["true"], entrypoint=[""],
                                         labels=ownership_labels("images", "file-probe"))
    try:
        stream, _ = container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            member = archive.next()
            extracted = archive.extractfile(member) if member is not None else None
            return extracted.read() if extracted is not None else None
    except docker.errors.NotFound:
        return None
    finally:
        container.remove(force=True, v=True)


def _script_for(suite: str) -> list[str]:
    """debootstrap has no script for a suite newer than itself (forky on bookworm's 1.0.128): testing and
    unstable bootstrap the same way, so its `sid` script serves."""
    scripts = Path("/usr/share/debootstrap/scripts")
    return [] if (scripts / suite).exists() or not (scripts / "sid").exists() else [str(scripts / "sid")]


def sources_list(suite: str) -> str:
    """The suite, its point-release updates and its security archive, like a Debian machine's default."""
    security = MIRROR.rstrip("/").removesuffix("/debian") + "/debian-security"
    return (f"deb {MIRROR} {suite} main\n"
            f"deb {MIRROR} {suite}-updates main\n"
            f"deb {security} {suite}-security main\n")


def read_version(client: docker.DockerClient, image: str, command: list[str], user: str | None = None) -> str:
    """Run `command` in a throw-away container of `image` and return its first output line."""
    container = client.containers.create(image, command=command, entrypoint=[""], user=user or "",
                                         labels=ownership_labels("images", "version-probe"))
    try:
        container.start()
        status = container.wait(timeout=60)
        output = container.logs(stdout=True, stderr=True).decode(errors="replace").strip()
    except docker.errors.APIError as exc:  # e.g. the command is not in the image
        raise ImageError(f"`{' '.join(command)}` cannot run in {image}: {exc.explanation or exc}") from None
    finally:
        container.remove(force=True, v=True)
    if status.get("StatusCode") != 0 or not output:
        raise ImageError(f"`{' '.join(command)}` failed in {image}: {output or status}")
    return output.splitlines()[0]


def facts_file() -> Path:
    """What was read from images (server and package version), by image id and by recipe: an image never
    changes, so the containers that read it run once per image and machine, and collecting the scenarios of a
    known matrix needs no Docker engine."""
    return Path(os.environ.get("MAILHOPS_IMAGE_FACTS", Path(tempfile.gettempdir()) / "mailhops-image-facts.json"))


def recipe_key(recipe: ImageRecipe) -> str:
    """The recipe's identity, without the base image (known without Docker)."""
    digest = hashlib.sha256(f"{recipe.name}\0{recipe.suite}\0".encode())
    for name, data in sorted(recipe.files.items()):
        digest.update(name.encode() + b"\0" + data + b"\0")
    for name, value in sorted(recipe.buildargs.items()):
        digest.update(f"{name}={value}\0".encode())
    return digest.hexdigest()[:24]


def known_facts(recipe: ImageRecipe) -> dict[str, str | None] | None:
    """The facts last read from an image of this recipe on this machine, or None."""
    return _read_facts().get("recipes", {}).get(recipe_key(recipe))


def image_facts(client: docker.DockerClient, tag: str, version_command: list[str], package_command: list[str],
                recipe: ImageRecipe | None = None) -> tuple[str, str | None]:
    """(server version, package version or None) of an image; read once, then from the facts file. Call under
    lock()."""
    image_id = client.images.get(tag).id
    known = _read_facts()
    images = known.setdefault("images", {})
    if image_id not in images:
        version = read_version(client, tag, version_command, user="0")
        package = None
        if package_command:
            with contextlib.suppress(ImageError):
                package = read_version(client, tag, package_command, user="0")
        images[image_id] = {"version": version, "package": package}
    if recipe is not None:
        known.setdefault("recipes", {})[recipe_key(recipe)] = images[image_id]
    # Readers take no lock: replace the file whole.
    temporary = facts_file().with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(known, indent=1, sort_keys=True))
    temporary.replace(facts_file())
    return str(images[image_id]["version"]), images[image_id].get("package")


def _read_facts() -> dict[str, dict[str, dict[str, str | None]]]:
    try:
        loaded = json.loads(facts_file().read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


class ImageSet:
    """The images of this process's nodes, made on first use under the cross-process build lock: one per server
    release, one per kind of the harness's own (relay, ...)."""

    def __init__(self, client: docker.DockerClient):
        self.client = client
        self._servers: dict[tuple[object, ...], NodeImage] = {}
        self._own: dict[str, NodeImage] = {}

    def server(self, release: ServerRelease) -> NodeImage:
        key = (release.family, release.major, release.suite, release.image, release.package)
        if key not in self._servers:
            kind = of_family(release.family)
            recipe = kind.recipe(release) if release.image is None else None
            with lock():
                tag = release.image if recipe is None else build(self.client, recipe)
                version, package = image_facts(self.client, tag, list(kind.version_command),
                                               list(kind.package_command), recipe)
            if major_of(version) != release.major:
                raise ImageError(f"{tag} has {release.family} {version}, expected {release.major}")
            if release.label_version and not short_version(version).startswith(release.label_version.split("-")[0]):
                raise ImageError(f"{tag} has {release.family} {version}, but the items were collected as "
                                 f"{release.label} (the image was rebuilt since): collect again")
            try:
                facts = kind.inspect_image(lambda path: read_file(self.client, tag, path), version)
            except ValueError as exc:
                raise ImageError(f"{tag}: {exc}") from None
            self._servers[key] = NodeImage(tag, release, version, package, facts)
        image = self._servers[key]
        return NodeImage(image.tag, release, image.version, image.package, image.facts)

    def version_of(self, release: ServerRelease) -> str:
        """The server version in a release's image (building it if needed)."""
        return self.server(release).version or ""

    def own(self, kind_name: str, generation: ServerRelease | None = None) -> NodeImage:
        """The image of a kind without a family of its own, for the item's generation (see NodeKind.recipe); its
        version is read when the kind says how."""
        kind = kind_named(kind_name)
        recipe = kind.recipe(generation)
        key = f"{kind_name}:{recipe_key(recipe)}"
        if key not in self._own:
            with lock():
                tag = build(self.client, recipe)
                version, package = (image_facts(self.client, tag, list(kind.version_command),
                                                list(kind.package_command), recipe)
                                    if kind.version_command else (None, None))
            self._own[key] = NodeImage(tag, None, version, package)
        return self._own[key]


def labelled_matrix(packages: Mapping[str, str] | None = None,
                    image_set: Callable[[], ImageSet] | None = None) -> dict[str, tuple[ServerRelease, ...]]:
    """The matrix with its labels; where a major repeats, the versions are those last read on this machine, else
    read from the images (built if needed: that takes a Docker engine)."""
    try:
        return matrix(packages=packages)
    except MatrixError:
        return matrix(_version_reader(image_set or (lambda: ImageSet(docker.from_env(timeout=120)))), packages)


def _version_reader(image_set: Callable[[], ImageSet]) -> VersionOf:
    def version_of(release: ServerRelease) -> str:
        known = known_facts(of_family(release.family).recipe(release)) if release.image is None else None
        if known and known.get("version"):
            return str(known["version"])
        return image_set().version_of(release)

    return version_of
