"""Postfix nodes: main.cf rendered from fixtures/postfix/main.cf, Debian's master.cf with chroot off and a
submission listener, `postfix start-fg` logging to stdout."""

from __future__ import annotations

import string
from pathlib import Path

from harness.kinds.postfix.log import events_from_log
from harness.load.scenario import PostfixNode
from harness.observe.events import NodeObservation
from harness.plan.topology import NodePlan
from harness.provision.container import ContainerSpec

TEMPLATE = Path(__file__).resolve().parent / "main.cf"
MAIN_CF = "/etc/postfix/main.cf"
START = (
    "postconf -F '*/*/chroot = n' "
    "&& postconf -M 'submission/inet=submission inet n - n - - smtpd' "
    "&& exec postfix start-fg"
)


def render_main_cf(node: NodePlan) -> str:
    spec = node.spec
    assert isinstance(spec, PostfixNode)
    values = {
        "node": node.name,
        "inet_protocols": spec.inet_protocols,
        "trusted_networks": " ".join(_postfix_network(net) for net in node.trusted_networks),
    }
    return string.Template(TEMPLATE.read_text()).substitute(values)


def _postfix_network(network: str) -> str:
    """Postfix writes IPv6 networks in brackets: [2001:db8::]/64."""
    address, _, prefix = network.partition("/")
    return f"[{address}]/{prefix}" if ":" in address else network


def container_spec(node: NodePlan, image: str, labels: dict[str, str]) -> ContainerSpec:
    return ContainerSpec(
        name=node.name,
        image=image,
        address=node.address,
        address6=node.address6,
        command=("sh", "-c", START),
        env={},
        files={MAIN_CF: render_main_cf(node).encode()},
        labels=labels,
        as_root=True,
    )


def observe(node: NodePlan, version: str, log: str) -> NodeObservation:
    return NodeObservation(node.name, f"postfix {version}", events_from_log(log), log)
