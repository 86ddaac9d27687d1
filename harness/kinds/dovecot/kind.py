"""Dovecot nodes: config rendered from the templates of the Dovecot major version (`2.3/`, `2.4/` beside this
file), started with `dovecot -F -c`; readiness is the IMAP greeting; observed through its log."""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from harness.kinds.base import ImageRecipe, NodeImage, NodeKind, NodeModel, dockerfile_recipe, node_container
from harness.kinds.dovecot.log import events_from_log
from harness.kinds.dovecot.model import DovecotNode
from harness.observe.events import NodeObservation
from harness.plan.versions import ServerRelease, major_of
from harness.protocol.table import PROTOCOLS
from harness.provision.probe import read_greeting
from harness.provision.spec import ContainerSpec

if TYPE_CHECKING:
    from harness.plan.topology import NodePlan, Plan
    from harness.provision.container import NodeContainer

FAMILY = "dovecot"
TEMPLATES = Path(__file__).resolve().parent
CONFIG_PATH = "/etc/mailhops/dovecot.conf"
IMAP_PORT = PROTOCOLS["imap"].port
OBSERVABLE = {
    "proxy": frozenset({"proxied", "auth", "forward", "id", "ttl", "xclient", "drop"}),
    "backend": frozenset({"login", "auth", "forward", "id", "ttl", "xclient", "delivery"}),
}
ONLY_23 = {"id", "ttl"}
"""Only Dovecot 2.3 logs the ID it received (imap_id_log); 2.4 logs no x-* keys."""


class TemplateMissing(LookupError):
    """No config templates for this Dovecot version."""


def template_majors() -> list[str]:
    return sorted(path.name for path in TEMPLATES.iterdir() if (path / "base.conf").is_file())


def render_config(node: NodePlan, plan: Plan, major: str) -> str:
    """The whole dovecot.conf for this node, in the syntax of Dovecot `major`."""
    spec = node.spec
    assert isinstance(spec, DovecotNode)
    directory = TEMPLATES / major
    if not (directory / "base.conf").is_file():
        raise TemplateMissing(f"no Dovecot config templates for {major} (have: {', '.join(template_majors())})")
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
    }
    text = (directory / "base.conf").read_text() + (directory / f"{spec.role}.conf").read_text()
    return string.Template(text).substitute(values)


class DovecotKind(NodeKind):
    name = FAMILY
    model = DovecotNode
    family = FAMILY
    releases = (ServerRelease(FAMILY, "2.3", "bookworm"), ServerRelease(FAMILY, "2.4", "trixie"))
    version_command = ("dovecot", "--version")
    serves = ("imap", "pop3", "submission", "lmtp")
    categories = OBSERVABLE["proxy"] | OBSERVABLE["backend"]

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
        return dockerfile_recipe(FAMILY, release.suite, TEMPLATES)

    def check_image(self, tag: str, version: str) -> None:
        if major_of(version) not in template_majors():
            raise ValueError(f"--dovecot-image {tag} has Dovecot {version}: no config templates for "
                             f"{major_of(version)} (harness/kinds/dovecot/ has {', '.join(template_majors())})")

    def container_spec(self, node: NodePlan, plan: Plan, image: NodeImage, labels: Mapping[str, str]) -> ContainerSpec:
        assert image.release is not None
        files = {CONFIG_PATH: render_config(node, plan, image.release.major).encode()}
        return node_container(node, image, labels, ("dovecot", "-F", "-c", CONFIG_PATH), files=files, as_root=True)

    def ready(self, node: NodePlan, container: NodeContainer) -> bool:
        return (read_greeting(node.address, IMAP_PORT) or "").startswith("* OK")

    def observe(self, node: NodePlan, image: NodeImage, log: str) -> NodeObservation:
        description = f"{FAMILY} {image.short_version} {self.variant(node.spec)}"
        return NodeObservation(node.name, description, events_from_log(log), log)
