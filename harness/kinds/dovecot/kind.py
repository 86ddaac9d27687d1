"""Dovecot nodes: config rendered from fixtures/dovecot/<major>/ templates, started with `dovecot -F -c`."""

from __future__ import annotations

import string
from pathlib import Path

from harness.kinds.dovecot.log import events_from_log
from harness.load.scenario import DovecotNode
from harness.observe.events import NodeObservation
from harness.plan.topology import NodePlan, Plan
from harness.provision.container import ContainerSpec

TEMPLATES = Path(__file__).resolve().parent
CONFIG_PATH = "/etc/mailhops/dovecot.conf"


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
        "relay_host": node.relay_host or "127.0.0.1",
        "relay_trusted": "yes" if spec.submission_relay_trusted else "no",
    }
    text = (directory / "base.conf").read_text() + (directory / f"{spec.role}.conf").read_text()
    return string.Template(text).substitute(values)


def container_spec(node: NodePlan, plan: Plan, image: str, major: str, labels: dict[str, str]) -> ContainerSpec:
    return ContainerSpec(
        name=node.name,
        image=image,
        address=node.address,
        address6=node.address6,
        command=("dovecot", "-F", "-c", CONFIG_PATH),
        env={},
        files={CONFIG_PATH: render_config(node, plan, major).encode()},
        labels=labels,
        as_root=True,
    )


def observe(node: NodePlan, version: str, log: str) -> NodeObservation:
    return NodeObservation(node.name, f"dovecot {version} {node.spec.role}", events_from_log(log), log)
