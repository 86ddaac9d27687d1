"""The layouts of the official Dovecot images (rootless with only vmail, `-root`, the 2.3 line): what the harness
learns from an image's files and renders from it, and, on stand-ins built here from Debian's packages, the IMAP,
POP3, submission and LMTP scenarios passing on each."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from harness.kinds import registry
from harness.kinds.base import NodeImage
from harness.kinds.dovecot import kind as dovecot
from harness.load.scenario import load_scenario
from harness.plan.topology import Plan, plan
from harness.plan.versions import ServerRelease, short_version
from harness.provision import images, user_images
from tests.conftest import ROOT, SCENARIOS
from tests.docker_support import docker_client

BASE_PASSWD = (b"root:x:0:0:root:/root:/bin/bash\n"
               b"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
               b"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
BASE_GROUP = b"root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n"
DEBIAN_USERS = (b"dovecot:x:100:102:Dovecot mail server:/usr/lib/dovecot:/usr/sbin/nologin\n"
                b"dovenull:x:101:103:Dovecot login user:/nonexistent:/usr/sbin/nologin\n")
DEBIAN_GROUPS = b"dovecot:x:102:\ndovenull:x:103:\n"
VMAIL = b"vmail:x:1000:1000::/srv/vmail:/usr/sbin/nologin\n"
VMAIL_GROUP = b"vmail:x:1000:\n"
LAYOUTS = {
    "debian": (BASE_PASSWD + DEBIAN_USERS, BASE_GROUP + DEBIAN_GROUPS),
    "rootless": (BASE_PASSWD + VMAIL, BASE_GROUP + VMAIL_GROUP),
    "root": (BASE_PASSWD + DEBIAN_USERS + VMAIL, BASE_GROUP + DEBIAN_GROUPS + VMAIL_GROUP),
    "no user": (BASE_PASSWD, BASE_GROUP),
}
ROOTLESS_LINES = ("first_valid_uid = 1000\ndefault_login_user = vmail\ndefault_internal_user = vmail\n"
                  "default_internal_group = vmail\n")
SCENARIO_FILES = [f"scenarios/{protocol}/{name}.yaml" for protocol in ("imap", "pop3", "submission", "lmtp")
                  for name in ("trusted_front", "proxy_sends")]
STAND_INS = Path(__file__).resolve().parent / "stand_ins"


def reader(layout: str) -> Callable[[str], bytes | None]:
    """A fake `read_file` of an image with this layout's /etc/passwd and /etc/group."""
    passwd, group = LAYOUTS[layout]
    return {"/etc/passwd": passwd, "/etc/group": group}.get


def inspect(layout: str, version: str = "2.4.1-4 (7d8c0e5759)") -> dict[str, str]:
    return dovecot.DovecotKind().inspect_image(reader(layout), version)


def trusted_front() -> Plan:
    return plan(load_scenario(SCENARIOS / "imap" / "trusted_front.yaml"), {"dovecot": "2.4.1"}, "10.77.3.0/24")


def config(image: NodeImage) -> str:
    the_plan = trusted_front()
    spec = registry.get("dovecot").container_spec(the_plan.nodes["proxy"], the_plan, image, {})
    return spec.files[dovecot.CONFIG_PATH].decode()


def test_debian_and_root_layouts_keep_dovecots_own_users() -> None:
    expected = {"login_user": "dovenull", "internal_user": "dovecot", "internal_group": "dovecot",
                "config_version": "2.4.1"}
    assert inspect("debian") == expected and inspect("root") == expected


@pytest.mark.parametrize("major", ["2.3", "2.4"])
def test_debian_layout_renders_what_it_always_did(major: str) -> None:
    the_plan = trusted_front()
    node = the_plan.nodes["backend"]
    version = "2.3.19.1 (9b53102964)" if major == "2.3" else "2.4.1-4 (7d8c0e5759)"
    rendered = dovecot.render_config(node, the_plan, major, inspect("debian", version))
    assert rendered == dovecot.render_config(node, the_plan, major)
    assert "default_login_user" not in rendered and "default_internal" not in rendered


def test_rootless_layout_runs_everything_as_vmail() -> None:
    assert inspect("rootless") == {"login_user": "vmail", "internal_user": "vmail", "internal_group": "vmail",
                                   "config_version": "2.4.1"}
    image = NodeImage("official:2.4.1", ServerRelease("dovecot", "2.4", ""), "2.4.1 (abc)", facts=inspect("rootless"))
    assert ROOTLESS_LINES in config(image)


def test_rootless_layout_on_23_sets_the_same_users() -> None:
    facts = inspect("rootless", "2.3.21.1 (d492236fa0)")
    assert "config_version" not in facts
    image = NodeImage("old:2.3", ServerRelease("dovecot", "2.3", ""), "2.3.21.1 (d492236fa0)", facts=facts)
    rendered = config(image)
    assert ROOTLESS_LINES in rendered and "dovecot_config_version" not in rendered


def test_internal_group_falls_back_to_the_users_primary_group() -> None:
    passwd = BASE_PASSWD + b"vmail:x:5000:8:mail user:/srv:/usr/sbin/nologin\n"
    assert dovecot.image_users(passwd, BASE_GROUP + b"mail:x:8:\n")["internal_group"] == "mail"
    with pytest.raises(ValueError, match=r"its /etc/group has no group vmail nor one of gid 8"):
        dovecot.image_users(passwd, BASE_GROUP)


@pytest.mark.parametrize(("version", "written"), [("2.4.0 (5d11ab0b5a)", "2.4.0"), ("2.4.1-4 (7d8c0e5759)", "2.4.1"),
                                                   ("2.4.3 (e7a1e6a3b1)", "2.4.1"), ("2.4.5-1 (abcdef)", "2.4.1")])
def test_config_version_is_the_one_the_binary_accepts(version: str, written: str) -> None:
    assert inspect("rootless", version)["config_version"] == written
    rendered = config(NodeImage("img", ServerRelease("dovecot", "2.4", ""), version))
    assert rendered.startswith(f"dovecot_config_version = {written}\ndovecot_storage_version = {written}\n")


def test_image_without_an_unprivileged_user_is_refused() -> None:
    with pytest.raises(ValueError, match=r"its /etc/passwd has none of the users dovecot, vmail \(non-root\)"):
        inspect("no user")
    with pytest.raises(ValueError, match=r"it has no /etc/passwd"):
        dovecot.DovecotKind().inspect_image(lambda path: None, "2.4.1")
    root_only = {"/etc/passwd": b"root:x:0:0::/:/bin/sh\nvmail:x:0:0::/:/bin/sh\n", "/etc/group": b""}.get
    with pytest.raises(ValueError, match="none of the users"):
        dovecot.DovecotKind().inspect_image(root_only, "2.4.1")


def test_user_image_refusal_names_the_image(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = reader("no user")
    monkeypatch.setattr(images, "read_file", lambda client, tag, path: fake(path))
    with pytest.raises(ValueError) as refused:
        user_images.inspect(object(), "dovecot", "my/dovecot:2.4.1", "2.4.1 (abc)")  # type: ignore[arg-type]
    assert str(refused.value).startswith("--dovecot-image my/dovecot:2.4.1 (dovecot 2.4.1) cannot run the "
                                         "harness's config: its /etc/passwd has none of the users dovecot, vmail")


def build_stand_in(client: docker.DockerClient, name: str, release: int) -> str:
    """A stand-in image from tests/stand_ins/<name>.Dockerfile on the project's own Dovecot image."""
    kind = registry.of_family("dovecot")
    with images.lock():
        ours = images.build(client, kind.recipe(kind.releases[release]))
    tag = f"mailhops-test/dovecot-{name}"
    client.images.build(path=str(STAND_INS), dockerfile=f"{name}.Dockerfile", buildargs={"BASE": ours}, tag=tag,
                        rm=True, labels={"mailhops.test": "1"})
    return tag


def run_pytest(facts: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest on the shipped scenarios, reading the image afresh (`facts`: a facts file of its own), as on a
    machine that never saw it."""
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=1200, check=False,
                          env={**os.environ, "MAILHOPS_IMAGE_FACTS": str(facts)})


@dataclass(frozen=True)
class StandIn:
    release: int
    """Which of the project's Dovecot images it is built on (0: bookworm's 2.3, 1: trixie's 2.4)."""
    login_user: str
    """What the harness must learn from its /etc/passwd."""
    present: tuple[str, ...]
    absent: tuple[str, ...]


STAND_INS_BY_NAME = {
    "rootless-2.4": StandIn(1, "vmail", ("/dovecot/sbin/dovecot", "/usr/bin/tini"),
                            ("/usr/sbin/dovecot", "/usr/bin/bash", "/usr/bin/getent", "/usr/bin/grep", "/usr/bin/sed",
                             "/usr/bin/dpkg-query")),
    "root-2.4": StandIn(1, "dovenull", ("/dovecot/sbin/dovecot", "/usr/bin/tini"),
                        ("/usr/sbin/dovecot", "/usr/bin/bash")),
    "old-2.3": StandIn(0, "dovenull", ("/usr/sbin/dovecot", "/usr/bin/tini"), ()),
}


@pytest.mark.docker
@pytest.mark.parametrize("name", list(STAND_INS_BY_NAME))
def test_scenarios_pass_on_stand_in(name: str, tmp_path: Path) -> None:
    client = docker_client()
    stand_in = STAND_INS_BY_NAME[name]
    tag = build_stand_in(client, name, stand_in.release)
    missing = [path for path in stand_in.present if images.read_file(client, tag, path) is None]
    unexpected = [path for path in stand_in.absent if images.read_file(client, tag, path) is not None]
    assert (missing, unexpected) == ([], []), "the stand-in is not the layout it claims"
    version = images.read_version(client, tag, ["dovecot", "--version"], user="0")
    facts = user_images.inspect(client, "dovecot", tag, version)
    assert facts["login_user"] == stand_in.login_user
    result = run_pytest(tmp_path / "facts.json", *SCENARIO_FILES, "-n", "2", "--dovecot-image", tag, "-rA")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    for path in SCENARIO_FILES:
        item = f"{path}::{Path(path).stem}[dovecot-{short_version(version)}]"
        assert f"PASSED {item}" in result.stdout, result.stdout[-3000:]
