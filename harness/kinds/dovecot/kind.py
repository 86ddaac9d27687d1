"""Dovecot nodes: config rendered from the templates of the Dovecot major version (`2.3/`, `2.4/` beside this
file), started with `dovecot -F -c`; readiness is the IMAP greeting; observed through its log."""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from harness.kinds.base import ImageRecipe, NodeImage, NodeKind, NodeModel, dockerfile_recipe, node_container
from harness.kinds.dovecot.log import events_from_log, proxies_retry
from harness.kinds.dovecot.model import HAPROXY_PORTS, DovecotNode
from harness.observe.events import NodeObservation
from harness.plan.versions import ServerRelease, major_of, short_version, version_labels
from harness.protocol.table import PROTOCOLS
from harness.provision.spec import ContainerSpec

if TYPE_CHECKING:
    from harness.plan.topology import NodePlan, Plan
    from harness.provision.container import NodeContainer

FAMILY = "dovecot"
TEMPLATES = Path(__file__).resolve().parent
CONFIG_PATH = "/etc/mailhops/dovecot.conf"
IMAP_PORT = PROTOCOLS["imap"].port
OBSERVABLE = {
    "proxy": frozenset({"proxied", "auth", "passdb", "forward", "id", "ttl", "xclient", "xclient_sent", "drop",
                        "proxy_header"}),
    "backend": frozenset({"login", "auth", "passdb", "forward", "id", "ttl", "xclient", "xclient_sent", "delivery",
                          "proxy_header"}),
}
_ELEMENTS = frozenset({"user", "method", "rip", "rport", "lip", "lport", "real_rip", "session", "service"})
FIELDS = {
    "login": _ELEMENTS,
    "proxied": _ELEMENTS | {"result", "reason", "reconnect"},
    "drop": _ELEMENTS | {"reason", "dest"},
    "delivery": frozenset({"user", "session", "mailbox"}),
    "proxy_header": _ELEMENTS | {"reason", "level", "version"},
}
"""What the log lines carry (login_log_format_elements, and the fields the parser adds)."""
ONLY_23 = {"id", "ttl"}
"""Only Dovecot 2.3 logs the ID it received (imap_id_log); 2.4 logs no x-* keys."""
DEFAULT_FACTS = {"login_user": "dovenull", "internal_user": "dovecot", "internal_group": "dovecot",
                 "config_version": "2.4.1"}
"""Dovecot's own defaults and the templates' version: what Debian's images need."""
USER_SETTINGS = {"login_user": "default_login_user", "internal_user": "default_internal_user",
                 "internal_group": "default_internal_group"}
LOGIN_USER = "dovenull"
INTERNAL_USERS = ("dovecot", "vmail")
"""Preferred first: Debian's own user, then the only user of the official rootless images."""


class TemplateMissing(LookupError):
    """No config templates for this Dovecot version."""


def template_majors() -> list[str]:
    return sorted(path.name for path in TEMPLATES.iterdir() if (path / "base.conf").is_file())


def render_config(node: NodePlan, plan: Plan, major: str, facts: Mapping[str, str] | None = None,
                  version: str | None = None) -> str:
    """The whole dovecot.conf for this node, in the syntax of Dovecot `major`, for an image with `facts` (its
    users and config version, from `inspect_image`; Debian's layout when not given), then the HAProxy listeners
    and the operator's settings (for `version`'s keys)."""
    spec = node.spec
    assert isinstance(spec, DovecotNode)
    directory = TEMPLATES / major
    if not (directory / "base.conf").is_file():
        raise TemplateMissing(f"no Dovecot config templates for {major} (have: {', '.join(template_majors())})")
    known = {**DEFAULT_FACTS, **(facts or {})}
    values = {
        "node": node.name,
        "listen": "*, ::" if node.address6 else "*",
        "role": spec.role,
        "trusted_networks": " ".join(node.trusted_networks),
        "forward_elements": "".join(
            f" fwd_{name}=<%{{passdb:forward_{name}}}>" for name in plan.forward_names
        ),
        "next_host": node.upstream or "",
        "proxy_noauth_arg": " proxy_noauth=y" if spec.proxy_noauth else "",
        "proxy_noauth_field": "\n    proxy_noauth = y" if spec.proxy_noauth else "",
        "password": spec.password,
        # Without a relay host the post-login submission process refuses; the login itself is still logged.
        "relay_host": node.references.get("submission_relay_host", "127.0.0.1"),
        "relay_trusted": "yes" if spec.submission_relay_trusted else "no",
        "config_version": known["config_version"],
        "users": user_settings(known),
    }
    text = (directory / "base.conf").read_text() + (directory / f"{spec.role}.conf").read_text()
    return (string.Template(text).substitute(values) + haproxy_listeners(node)
            + operator_config(spec, version_labels(FAMILY, version or major)))


def haproxy_listeners(node: NodePlan) -> str:
    """`haproxy = yes` listeners beside the plain ones, and who may send the header (haproxy_trusted)."""
    spec = node.spec
    assert isinstance(spec, DovecotNode)
    if not spec.haproxy:
        return ""
    lines = ["# mailhops: listeners that take a PROXY header first"]
    for protocol, port in HAPROXY_PORTS.items():
        service = "lmtp" if protocol == "lmtp" else f"{protocol}-login"
        lines += [f"service {service} {{", f"  inet_listener {protocol}_haproxy {{", f"    port = {port}",
                  "    haproxy = yes", "  }", "}"]
    lines.append(f"haproxy_trusted_networks = {' '.join(node.networks.get('haproxy_trusted', ()))}")
    return "\n".join(lines) + "\n"


def operator_config(spec: DovecotNode, labels: list[str]) -> str:
    """The operator's settings, config text and config file, after everything of the harness's (so they win)."""
    parts = spec.operator_texts(labels)
    return "# mailhops: the operator's settings\n" + "\n".join(parts) + "\n" if parts else ""


def user_settings(facts: Mapping[str, str]) -> str:
    """The user settings that differ from Dovecot's defaults (dovenull, dovecot), one per line, each after a
    newline: nothing on Debian's layout, so its config stays as it always was."""
    return "".join(f"\n{setting} = {facts[fact]}" for fact, setting in USER_SETTINGS.items()
                   if facts[fact] != DEFAULT_FACTS[fact])


def version_facts(version: str) -> dict[str, str]:
    """What the version decides: the config version to write (2.4 only; 2.3 has none)."""
    return {"config_version": config_version(version)} if major_of(version) == "2.4" else {}


def config_version(version: str) -> str:
    """The dovecot_config_version (and storage version) a 2.4 binary accepts: 2.4.0's parser knows only 2.4.0
    and refuses newer ones as too new; 2.4.1 and later accept 2.4.1, the syntax of the templates."""
    return "2.4.0" if short_version(version).split(".")[:3] == ["2", "4", "0"] else "2.4.1"


def accounts(passwd: bytes) -> dict[str, tuple[int, int]]:
    """name -> (uid, gid) of the users of an /etc/passwd."""
    found: dict[str, tuple[int, int]] = {}
    for line in passwd.decode(errors="replace").splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[2].isdigit() and fields[3].isdigit():
            found.setdefault(fields[0], (int(fields[2]), int(fields[3])))
    return found


def groups(group: bytes | None) -> dict[str, int]:
    """name -> gid of the groups of an /etc/group."""
    found: dict[str, int] = {}
    for line in (group or b"").decode(errors="replace").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            found.setdefault(fields[0], int(fields[2]))
    return found


def image_users(passwd: bytes | None, group: bytes | None) -> dict[str, str]:
    """The users Dovecot's login and internal processes run as on an image with this /etc/passwd and /etc/group:
    dovenull and dovecot (Debian, the official -root and 2.3 images), else vmail for all of them (the official
    rootless images). ValueError when there is no such unprivileged user."""
    if passwd is None:
        raise ValueError("it has no /etc/passwd, so Dovecot's login and internal processes have no user to run as")
    users = {name: ids for name, ids in accounts(passwd).items() if ids[0] != 0}
    internal = next((name for name in INTERNAL_USERS if name in users), None)
    if internal is None:
        raise ValueError(f"its /etc/passwd has none of the users {', '.join(INTERNAL_USERS)} (non-root), so "
                         "Dovecot's login and internal processes have no unprivileged user to run as: add dovecot "
                         "and dovenull (like Debian's packages) or vmail (like the official rootless images)")
    return {"login_user": LOGIN_USER if LOGIN_USER in users else internal, "internal_user": internal,
            "internal_group": internal_group(internal, users[internal][1], groups(group))}


def internal_group(user: str, gid: int, known: Mapping[str, int]) -> str:
    """The group of the internal user: the one of its name, else its primary group."""
    if user in known:
        return user
    name = next((name for name, number in known.items() if number == gid), None)
    if name is None:
        raise ValueError(f"its /etc/group has no group {user} nor one of gid {gid} (the primary group of user "
                         f"{user}), so Dovecot has no default_internal_group")
    return name


class DovecotKind(NodeKind):
    name = FAMILY
    model = DovecotNode
    family = FAMILY
    releases = (ServerRelease(FAMILY, "2.3", "bookworm"), ServerRelease(FAMILY, "2.4", "trixie"),
                ServerRelease(FAMILY, "2.4", "forky"))
    version_command = ("dovecot", "--version")
    package_command = ("dpkg-query", "-W", "-f", "${Version}", "dovecot-core")
    serves = ("imap", "pop3", "submission", "lmtp")
    categories = OBSERVABLE["proxy"] | OBSERVABLE["backend"]
    fields = FIELDS
    field_prefixes = {category: ("fwd_",) for category in FIELDS}

    def variant(self, spec: NodeModel) -> str:
        assert isinstance(spec, DovecotNode)
        return spec.role

    def describe(self, spec: NodeModel) -> str:
        return f"{FAMILY} {self.variant(spec)}"

    def observable(self, spec: NodeModel) -> frozenset[str]:
        return OBSERVABLE[self.variant(spec)]

    def observable_problem(self, spec: NodeModel, category: str, pinned: tuple[str, ...] | None) -> str | None:
        problem = super().observable_problem(spec, category, pinned)
        if problem is None and category in ONLY_23 and (pinned is None or set(pinned) - {"2.3"}):
            return ("only Dovecot 2.3 logs the ID it received (imap_id_log; 2.4 logs no x-* keys): "
                    f"pin `servers: {{dovecot: [\"2.3\"]}}`, or expect `{category}` at a capture relay "
                    "behind this node")
        return problem

    def recipe(self, release: ServerRelease | None) -> ImageRecipe:
        assert release is not None
        return dockerfile_recipe(FAMILY, release.suite, TEMPLATES, package=release.package)

    def check_image(self, tag: str, version: str) -> None:
        if major_of(version) not in template_majors():
            raise ValueError(f"--dovecot-image {tag} has Dovecot {version}: no config templates for "
                             f"{major_of(version)} (harness/kinds/dovecot/ has {', '.join(template_majors())})")

    def inspect_image(self, read_file: Callable[[str], bytes | None], version: str) -> dict[str, str]:
        facts = image_users(read_file("/etc/passwd"), read_file("/etc/group"))
        return {**facts, **version_facts(version)}

    def container_spec(self, node: NodePlan, plan: Plan, image: NodeImage, labels: Mapping[str, str]) -> ContainerSpec:
        assert image.release is not None
        facts = {**version_facts(image.version or ""), **image.facts}
        files = {CONFIG_PATH: render_config(node, plan, image.release.major, facts, image.short_version).encode()}
        # Reset entrypoint, as root: rootless images (only vmail) can still switch to their users and chroot.
        return node_container(node, image, labels, ("dovecot", "-F", "-c", CONFIG_PATH), files=files, as_root=True)

    def ready(self, node: NodePlan, container: NodeContainer) -> bool:
        return (container.greeting(IMAP_PORT) or "").startswith("* OK")

    def log_barrier(self, node: NodePlan, container: NodeContainer, timeout: float) -> bool:
        """imap-login logs the close of a connection that never logged in (`rip=A, rport=P`) through the log
        process, which every Dovecot process writes to."""
        return container.probe_barrier(IMAP_PORT, timeout)

    def work_in_progress(self, log: str) -> bool:
        return proxies_retry(log)

    def observe(self, node: NodePlan, image: NodeImage, log: str) -> NodeObservation:
        description = f"{FAMILY} {image.short_version} {self.variant(node.spec)}"
        return NodeObservation(node.name, description, events_from_log(log), log)
