"""Relay nodes: the stdlib-only relay (harness/relay) in its own image, configured by one JSON env var."""

from __future__ import annotations

import json
from typing import Any

from harness.load.scenario import RelayNode, text_of, texts_of
from harness.observe.events import Event, NodeObservation
from harness.plan.topology import PROTOCOL_PORTS, NodePlan
from harness.provision.container import ContainerSpec

FORWARD_PREFIX = "x-forward-"


def relay_config(node: NodePlan) -> dict[str, object]:
    spec = node.spec
    assert isinstance(spec, RelayNode)
    port = PROTOCOL_PORTS[spec.protocol]
    config: dict[str, object] = {
        "name": node.name,
        # Plain SMTP (port 25) speaks what submission speaks; only the port differs.
        "protocol": "submission" if spec.protocol == "smtp" else spec.protocol,
        "mode": spec.mode,
        "listen": {"host": "0.0.0.0", "port": port},
        "timeout": 30,
    }
    if node.upstream is not None:
        config["upstream"] = {"host": node.upstream, "port": port}
    if spec.id:
        config["id"] = [list(pair) for pair in texts_of(spec.id)]
    if spec.xclient:
        config["xclient"] = [[name.upper(), _pairs(value) if isinstance(value, dict) else text_of(value)]
                             for name, value in spec.xclient.items()]
    if spec.rcpt_forward:
        config["rcpt_forward"] = _pairs(spec.rcpt_forward)
    if spec.advertise is not None:
        config["advertise"] = list(spec.advertise)
    if spec.mode == "capture" and spec.protocol != "imap":
        config["accept"] = "login" if spec.accept_login else "refuse"
    if spec.mutate is not None:
        config["mutate"] = spec.mutate.model_dump(exclude_defaults=True)
    return config


def _pairs(mapping: dict[str, Any]) -> list[list[str]]:
    return [list(pair) for pair in texts_of(mapping)]


def container_spec(node: NodePlan, image: str, labels: dict[str, str]) -> ContainerSpec:
    return ContainerSpec(
        name=node.name,
        image=image,
        address=node.address,
        address6=node.address6,
        command=("python3", "-u", "-m", "harness.relay"),
        env={"MAILHOPS_RELAY": json.dumps(relay_config(node))},
        files={},
        labels=labels,
    )


def records(log: str) -> list[dict[str, object]]:
    """The relay's JSON-line records; other lines (tracebacks) are left for the log tail."""
    found = []
    for line in log.splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return found


def is_ready(log: str) -> bool:
    return any(record.get("event") == "ready" for record in records(log))


def _received_events(record: dict[str, object]) -> list[Event]:
    """ID, XCLIENT and XRCPTFORWARD of one received command, as id/xclient, ttl and forward events."""
    line = str(record.get("line", ""))
    events = []
    if isinstance(pairs := record.get("id"), list):
        fields = {str(key).lower(): ("NIL" if value is None else str(value)) for key, value in pairs}
        events.append(Event("id", fields, line))
        if "x-proxy-ttl" in fields:
            events.append(Event("ttl", {"ttl": fields["x-proxy-ttl"]}, line))
        forwarded = {key[len(FORWARD_PREFIX):]: value for key, value in fields.items()
                     if key.startswith(FORWARD_PREFIX)}
        events.append(Event("forward", forwarded, line))
    if isinstance(attributes := record.get("xclient"), list):
        fields = {str(name).upper(): str(value) for name, value in attributes}
        events.append(Event("xclient", fields, line))
        if "TTL" in fields:
            events.append(Event("ttl", {"ttl": fields["TTL"]}, line))
    if isinstance(forward := record.get("forward"), list):
        events.append(Event("forward", {str(key): str(value) for key, value in forward}, line))
    return events


def observe(node: NodePlan, log: str) -> NodeObservation:
    events: list[Event] = []
    for record in records(log):
        if record.get("event") == "received":
            events += _received_events(record)
        elif record.get("event") == "injected":
            events.append(Event("injected", {"line": str(record.get("line", ""))}, str(record.get("line", ""))))
    spec = node.spec
    assert isinstance(spec, RelayNode)
    return NodeObservation(node.name, f"relay {spec.mode} ({spec.protocol})", tuple(events), log, kind_is_server=False)
