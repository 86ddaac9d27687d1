"""Relay nodes: the stdlib-only relay (harness/relay) in its own image, configured by one JSON env var; ready
when it logs its `ready` record; observed through the JSON records it writes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.kinds.base import ImageRecipe, NodeImage, NodeKind, NodeModel, dockerfile_recipe, node_container
from harness.kinds.relay.model import RelayNode
from harness.load.values import text_of, texts_of
from harness.observe.events import Event, NodeObservation
from harness.protocol.imap import FORWARD_PREFIX, TTL_KEY
from harness.provision.spec import ContainerSpec

if TYPE_CHECKING:
    from harness.plan.topology import NodePlan, Plan
    from harness.plan.versions import ServerRelease
    from harness.provision.container import NodeContainer

NAME = "relay"
FOLDER = Path(__file__).resolve().parent
HARNESS = FOLDER.parent.parent
SUITE = "bookworm"
"""The relay runs on this suite's python3, whatever the servers' versions."""
RECORDING = frozenset({"id", "xclient", "ttl", "forward", "command"})
MARK = '"event": "mark"'
"""What only the relay's `mark` record holds (a quote inside a recorded value is escaped)."""
COMMAND_FIELDS = frozenset({"verb", "args", "peer"})
"""A `command` event: every command line the relay received (`EHLO backend`, `MAIL FROM:<a@example.net>`), with
the address of the peer that sent it: what a capture shows even where nothing is forwarded."""


def relay_config(node: NodePlan) -> dict[str, object]:
    spec = node.spec
    assert isinstance(spec, RelayNode)
    port = spec.row.port
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
        config["id"] = [list(pair) for pair in texts_of(spec.id)]
    if spec.xclient:
        config["xclient"] = [[name.upper(), _pairs(value) if isinstance(value, dict) else text_of(value)]
                             for name, value in spec.xclient.items()]
    if spec.rcpt_forward:
        config["rcpt_forward"] = _pairs(spec.rcpt_forward)
    if spec.advertise is not None:
        config["advertise"] = list(spec.advertise)
    if spec.mode == "capture" and spec.row.forwards_with == "xclient":
        config["accept"] = "login" if spec.accept_login else "refuse"
    if not spec.xrcptforward:
        config["xrcptforward"] = False
    if spec.capabilities is not None:
        config["capabilities"] = list(spec.capabilities)
    if not spec.greeting_capability:
        config["greeting_capability"] = False
    if spec.mutate is not None:
        config["mutate"] = spec.mutate.to_config()
    return config


def _pairs(mapping: dict[str, Any]) -> list[list[str]]:
    return [list(pair) for pair in texts_of(mapping)]


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
        if TTL_KEY in fields:
            events.append(Event("ttl", {"ttl": fields[TTL_KEY]}, line))
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
    if isinstance(verb := record.get("command"), str):
        events.append(Event("command", _command_fields(record, line, verb), line))
    return events


def _command_fields(record: dict[str, object], line: str, verb: str) -> dict[str, str]:
    """verb, args (the line after the tag, if any, and the verb) and the sender's address (no port)."""
    words = line.split(" ", 2) if record.get("tag") else ["", *line.split(" ", 1)]
    peer = str(record.get("peer", "")).rpartition(":")[0].strip("[]")
    return {"verb": verb.upper(), "args": words[2] if len(words) > 2 else "", "peer": peer}


def _image_files() -> dict[str, bytes]:
    """The relay code the image copies: the stdlib-only packages harness.protocol and harness.relay."""
    paths = [HARNESS / "__init__.py", *sorted((HARNESS / "protocol").rglob("*.py")),
             *sorted((HARNESS / "relay").rglob("*.py"))]
    return {path.relative_to(HARNESS.parent).as_posix(): path.read_bytes() for path in paths}


class RelayKind(NodeKind):
    name = NAME
    model = RelayNode
    is_server = False
    categories = RECORDING
    fields = {"command": COMMAND_FIELDS}

    def variant(self, spec: NodeModel) -> str:
        assert isinstance(spec, RelayNode)
        return spec.mode

    def describe(self, spec: NodeModel) -> str:
        assert isinstance(spec, RelayNode)
        return f"{NAME} {spec.mode} {spec.protocol}"

    def observable(self, spec: NodeModel) -> frozenset[str]:
        return frozenset() if self.variant(spec) == "inject" else RECORDING

    def recipe(self, release: ServerRelease | None) -> ImageRecipe:
        return dockerfile_recipe(NAME, SUITE, FOLDER, _image_files())

    def container_spec(self, node: NodePlan, plan: Plan, image: NodeImage, labels: Mapping[str, str]) -> ContainerSpec:
        return node_container(node, image, labels, ("python3", "-u", "-m", "harness.relay"),
                              env={"MAILHOPS_RELAY": json.dumps(relay_config(node))})

    def ready(self, node: NodePlan, container: NodeContainer) -> bool:
        return is_ready(container.log())

    def log_barrier(self, node: NodePlan, container: NodeContainer, timeout: float) -> bool:
        """The relay writes a `mark` record on SIGUSR1 (harness/relay/cli.py), after every record before it."""
        return container.signal_barrier("SIGUSR1", MARK, timeout)

    def observe(self, node: NodePlan, image: NodeImage, log: str) -> NodeObservation:
        events: list[Event] = []
        for record in records(log):
            if record.get("event") == "received":
                events += _received_events(record)
            elif record.get("event") == "injected":
                line = str(record.get("line", ""))
                events.append(Event("injected", {"line": line}, line))
        spec = node.spec
        assert isinstance(spec, RelayNode)
        return NodeObservation(node.name, f"{NAME} {spec.mode} ({spec.protocol})", tuple(events), log,
                               kind_is_server=False)
