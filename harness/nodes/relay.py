"""Relay nodes: the stdlib-only relay (harness/relay) in its own image, configured by one JSON env var."""

from __future__ import annotations

import json

from harness.nodes.container import ContainerSpec
from harness.observations import Event, NodeObservation
from harness.scenario import RelayNode
from harness.topology import PROTOCOL_PORTS, NodePlan

FORWARD_PREFIX = "x-forward-"


def relay_config(node: NodePlan) -> dict[str, object]:
    spec = node.spec
    assert isinstance(spec, RelayNode)
    port = PROTOCOL_PORTS[spec.protocol]
    config: dict[str, object] = {
        "name": node.name,
        "protocol": spec.protocol,
        "mode": spec.mode,
        "listen": {"host": "0.0.0.0", "port": port},
        "timeout": 30,
    }
    if node.upstream is not None:
        config["upstream"] = {"host": node.upstream, "port": port}
    if spec.id:
        config["id"] = [[key, str(value)] for key, value in spec.id.items()]
    return config


def container_spec(node: NodePlan, image: str, labels: dict[str, str]) -> ContainerSpec:
    return ContainerSpec(
        name=node.name,
        image=image,
        address=node.address,
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


def observe(node: NodePlan, log: str) -> NodeObservation:
    events: list[Event] = []
    for record in records(log):
        pairs = record.get("id")
        if record.get("event") == "received" and isinstance(pairs, list):
            fields = {str(key).lower(): ("NIL" if value is None else str(value)) for key, value in pairs}
            line = str(record.get("line", ""))
            events.append(Event("id", fields, line))
            forwarded = {key[len(FORWARD_PREFIX):]: value for key, value in fields.items()
                         if key.startswith(FORWARD_PREFIX)}
            events.append(Event("forward", forwarded, line))
        elif record.get("event") == "injected":
            events.append(Event("injected", {"line": str(record.get("line", ""))}, str(record.get("line", ""))))
    spec = node.spec
    assert isinstance(spec, RelayNode)
    return NodeObservation(node.name, f"relay {spec.mode} ({spec.protocol})", tuple(events), log)
