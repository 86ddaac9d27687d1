"""Postfix nodes: main.cf rendered from `main.cf` beside this file, Debian's master.cf with chroot off and a
submission listener, `postfix start-fg` logging to stdout; readiness is the SMTP greeting."""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from harness.kinds.base import ImageRecipe, NodeImage, NodeKind, NodeModel, dockerfile_recipe, node_container
from harness.kinds.postfix.log import events_from_log, mail_in_queue
from harness.kinds.postfix.model import HAPROXY_PORTS, PostfixNode
from harness.observe.events import NodeObservation
from harness.plan.versions import ServerRelease, major_of, version_labels
from harness.protocol.table import PROTOCOLS
from harness.provision.spec import ContainerSpec

if TYPE_CHECKING:
    from harness.plan.topology import NodePlan, Plan
    from harness.provision.container import NodeContainer

FAMILY = "postfix"
FOLDER = Path(__file__).resolve().parent
TEMPLATE = FOLDER / "main.cf"
MAIN_CF = "/etc/postfix/main.cf"
SMTP_PORT = PROTOCOLS["smtp"].port
MAJORS_WITH_CONFIG = ("3",)
"""main.cf uses nothing that changed across Postfix 3.x."""
OBSERVABLE = frozenset({"client", "recipient", "disconnect", "connect"})
_CLIENT = frozenset({"name", "addr", "port"})
FIELDS = {
    "connect": _CLIENT,
    "client": _CLIENT | {"queue_id", "sasl_method", "sasl_username", "sasl_sender"},
    "recipient": _CLIENT | {"from", "to", "proto", "helo", "sasl_method", "sasl_username", "sasl_sender"},
}
"""What the connect, `client=` and WARN lines carry (disconnect counters are left open: one per command)."""


def render_main_cf(node: NodePlan, version: str = "") -> str:
    """main.cf: the harness's, then the operator's settings and text (for `version`'s keys), which win."""
    spec = node.spec
    assert isinstance(spec, PostfixNode)
    values = {
        "node": node.name,
        "inet_protocols": spec.inet_protocols,
        "trusted_networks": " ".join(_postfix_network(net) for net in node.trusted_networks),
    }
    operator = spec.operator_texts(version_labels(FAMILY, version))
    tail = "# mailhops: the operator's settings\n" + "\n".join(operator) + "\n" if operator else ""
    return string.Template(TEMPLATE.read_text()).substitute(values) + tail


def start_command(spec: PostfixNode) -> str:
    """Debian's master.cf with chroot off and a submission listener, the PROXY listeners and the operator's
    entries, then `postfix start-fg`."""
    steps = ["postconf -F '*/*/chroot = n'", "postconf -M 'submission/inet=submission inet n - n - - smtpd'"]
    if spec.haproxy:
        for port in HAPROXY_PORTS.values():
            steps += [f"postconf -M '{port}/inet={port} inet n - n - - smtpd'",
                      f"postconf -P '{port}/inet/smtpd_upstream_proxy_protocol=haproxy'"]
    steps += [f"postconf -M '{service}={entry}'" for service, entry in spec.master.items()]
    return " && ".join([*steps, "exec postfix start-fg"])


def _postfix_network(network: str) -> str:
    """Postfix writes IPv6 networks in brackets: [2001:db8::]/64."""
    address, _, prefix = network.partition("/")
    return f"[{address}]/{prefix}" if ":" in address else network


class PostfixKind(NodeKind):
    name = FAMILY
    model = PostfixNode
    family = FAMILY
    releases = (ServerRelease(FAMILY, "3.7", "bookworm"), ServerRelease(FAMILY, "3.10", "trixie"),
                ServerRelease(FAMILY, "3.11", "forky"))
    version_command = ("postconf", "-d", "-h", "mail_version")
    package_command = ("dpkg-query", "-W", "-f", "${Version}", "postfix")
    serves = ("smtp", "submission")
    # DESTADDR/DESTPORT go to policy servers, milters and SASL only (smtpd.c); the EHLO after XCLIENT resets PROTO,
    # so a PROTO=SMTP is logged as ESMTP.
    shown_only_in_reply = frozenset({"DESTADDR", "DESTPORT", "PROTO=SMTP"})
    categories = OBSERVABLE
    fields = FIELDS

    def variant(self, spec: NodeModel) -> str:
        return "smtpd"

    def observable(self, spec: NodeModel) -> frozenset[str]:
        return OBSERVABLE

    def recipe(self, release: ServerRelease | None) -> ImageRecipe:
        assert release is not None
        return dockerfile_recipe(FAMILY, release.suite, FOLDER, package=release.package)

    def check_image(self, tag: str, version: str) -> None:
        if major_of(version).split(".")[0] not in MAJORS_WITH_CONFIG:
            raise ValueError(f"--postfix-image {tag} has Postfix {version}: harness/kinds/postfix/main.cf is for "
                             "Postfix 3.x")

    def container_spec(self, node: NodePlan, plan: Plan, image: NodeImage, labels: Mapping[str, str]) -> ContainerSpec:
        assert isinstance(node.spec, PostfixNode)
        return node_container(node, image, labels, ("sh", "-c", start_command(node.spec)),
                              files={MAIN_CF: render_main_cf(node, image.short_version).encode()}, as_root=True)

    def ready(self, node: NodePlan, container: NodeContainer) -> bool:
        return (container.greeting(SMTP_PORT) or "").startswith("220 ")

    def log_barrier(self, node: NodePlan, container: NodeContainer, timeout: float) -> bool:
        """smtpd logs the probe's `disconnect from NAME[A]:P` through postlogd, which writes every daemon's lines
        in the order they were sent (one datagram socket): one round suffices."""
        return container.probe_barrier(SMTP_PORT, timeout, rounds=1)

    def work_in_progress(self, log: str) -> bool:
        return mail_in_queue(log)

    def observe(self, node: NodePlan, image: NodeImage, log: str) -> NodeObservation:
        return NodeObservation(node.name, f"{FAMILY} {image.short_version}", events_from_log(log), log)
