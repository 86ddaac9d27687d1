"""A run's observations as plain JSON, normalised so two runs can be compared: addresses become node names,
server-made session ids and ephemeral ports placeholders, numbers in log wording <n>. Written with
`--observations FILE`; read by `python -m harness drift` and the GitHub summary."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.check.health import crashes
from harness.check.matchers import Context
from harness.load.scenario import CLIENT
from harness.observe.events import NodeObservation
from harness.protocol.table import PROTOCOLS
from harness.report.result import RunResult

WELL_KNOWN_PORTS = {str(row.port) for row in PROTOCOLS.values()}
PORT_FIELDS = {"rport", "lport", "port", "real_rport", "real_lport", "x-originating-port", "x-connected-port", "PORT"}
SESSION_FIELDS = {"session", "x-session-id", "SESSION"}
_DOVECOT_LEVEL = re.compile(r": (Info|Warning|Error|Fatal|Panic): ")
_TIMESTAMP = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ")
_CONTAINER = re.compile(r"\b[0-9a-f]{12}\.mailhops-[0-9a-f]{12}\b")
_QUEUE_ID = re.compile(r"\b[0-9A-F]{10,12}\b")
_PROCESS_PREFIX = re.compile(r"(?P<name>\w[\w-]*\([^)]*\))<\d+><(?P<session>[^>]*)>")
"""Dovecot's mail-process prefix `imap(alice)<14><session>`."""
_PID = re.compile(r"(?P<name>\b(?:lmtp|imap|pop3|submission|auth))\(\d+\)")
_SESSION_TOKEN = re.compile(r"(?<![\w+/])(?=[A-Za-z0-9+/]*\d)(?=[A-Za-z0-9+/]*[A-Z])(?=[A-Za-z0-9+/]*[a-z])"
                            r"[A-Za-z0-9+/]{16}(?:[A-Za-z0-9+/]{6}|[A-Za-z0-9+/]{16})?(?![\w+/])")
"""A session id Dovecot made: 16 (IPv4), 22 (LMTP) or 32 (IPv6) base64 characters, mixed case and digits."""
_SECONDS = re.compile(r"\b\d+s ")
_DISCONNECT_SIDE = re.compile(r"\bDisconnected by (?:client|server)\b")
"""A proxy logs `Disconnected by client` or `by server` as the client's close or the backend's arrives first:
a race of two sockets after LOGOUT/QUIT, not a behaviour of the version."""
_TIMING = re.compile(r"\((?:\d+\.\d+ \+ )*\d+\.\d+ secs\)")
"""Dovecot's command timing in a tagged reply, `(0.001 + 0.000 secs)`; a third term (the time the reply waited to
be written) is there only when it was not zero."""
_SIZE = re.compile(r"\b\d+ bytes\b")
_FLOAT = re.compile(r"(?<![\d.])\d+\.\d+(?![\d.])")
_NUMBER = re.compile(r"(?<![\w<@.])\d+(?![\w>.])")


def item_record(result: RunResult, nodeid: str, label: str, outcome: str) -> dict[str, Any]:
    """One item's observations, normalised."""
    plan = result.plan
    addresses = {node.address: f"@{name}" for name, node in plan.nodes.items()}
    addresses |= {node.address6: f"@{name}.v6" for name, node in plan.nodes.items() if node.address6}
    addresses[plan.client_address] = f"@{CLIENT}"
    if plan.client_address6:
        addresses[plan.client_address6] = f"@{CLIENT}.v6"
    given = plan.scenario.file.read_text(encoding="utf-8")
    made = {value.partition(":")[0] for node in result.nodes.values() for event in node.events
            for key, value in event.fields.items() if key in SESSION_FIELDS}
    norm = _Normaliser(addresses, given, {value for value in made if value and value not in given})
    return {
        "nodeid": nodeid,
        "scenario": plan.scenario.name,
        "file": _relative(plan.scenario.file),
        "label": label,
        "servers": dict(result.server_versions),
        "outcome": outcome,
        "duration_s": round(result.duration_s, 2),
        "chains": plan.chains(),
        "context": _context(plan.context),
        "nodes": {name: _node(node, plan.nodes[name].spec, norm) for name, node in result.nodes.items()},
        "clients": [{"to": t.to, "replies": {k: norm.reply(v) for k, v in sorted(t.replies.items())
                                             if not k.endswith("_seconds")},
                     "seconds": {k: float(v) for k, v in t.replies.items() if k.endswith("_seconds")},
                     "received": dict(t.replies),
                     "error": t.error} for t in result.clients],
        "failures": [{"where": c.where, "field": f"{c.category}.{c.field}", "expected": c.expected,
                      "observed": c.observed, "line": _line(result, c.where, c.path)}
                     for c in result.verdict.failures()],
        "crashes": [{"node": c.node, "line": norm.log_line(c.line), "declared": c not in result.health.undeclared}
                    for c in crashes(result.nodes)],
        "known_issues": [issue.reason for issue in result.health.known_seen],
    }


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _line(result: RunResult, where: str, path: tuple[str | int, ...]) -> int:
    scenario = result.plan.scenario
    if where in scenario.expect and path:
        return scenario.line_of("expect", where, *path)
    if where.startswith("client["):
        return scenario.line_of("clients", int(where[len("client["):where.index("]")]), "expect")
    return 1


def _context(context: Context) -> dict[str, Any]:
    """What the checks resolve against, so they can be re-run from the file (`harness strength`)."""
    return {"addresses": dict(context.addresses), "versions": dict(context.versions),
            "node_versions": {name: dict(versions) for name, versions in context.node_versions.items()},
            "servers": {name: dict(versions) for name, versions in context.servers.items()}}


def _node(node: NodeObservation, spec: object, norm: _Normaliser) -> dict[str, Any]:
    events = sorted({_event_key(event.kind, norm.fields(event.fields)) for event in node.events})
    record: dict[str, Any] = {
        "kind": getattr(spec, "kind", "?"),
        "description": node.description,
        "to": getattr(spec, "to", None),
        "events": [{"kind": kind, "fields": dict(fields)} for kind, fields in events],
        # As observed, in order and not normalised: the checks' own input (`harness strength`).
        "received": [{"kind": event.kind, "fields": dict(event.fields)} for event in node.events],
    }
    if node.kind_is_server:
        record["log"] = sorted({norm.log_line(line) for line in node.log.splitlines() if _worth_keeping(line)})
    return record


def _event_key(kind: str, fields: Mapping[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return kind, tuple(sorted(fields.items()))


def _worth_keeping(line: str) -> bool:
    """Dovecot's Info and above (Debug lines are too many and too variable); every Postfix line."""
    return bool(_DOVECOT_LEVEL.search(line)) or "postfix/" in line


class _Normaliser:
    """Makes two runs of one scenario on one version compare equal: what varies from run to run (addresses,
    ports, session ids the servers made, queue ids, pids, sizes, seconds) becomes a placeholder."""

    def __init__(self, addresses: Mapping[str, str], given: str, made_sessions: set[str]):
        self.addresses = addresses
        self.given = given
        self._by_length = sorted(addresses, key=len, reverse=True)
        self._sessions = sorted(made_sessions, key=len, reverse=True)

    def text(self, value: str) -> str:
        for address in self._by_length:
            # An IPv4 address may be followed by `:port`; an IPv6 one is delimited by anything but hex and `:`.
            before, after = (r"(?<![\d.])", r"(?![\d])") if "." in address else (r"(?<![\w:])", r"(?![\w:])")
            value = re.sub(before + re.escape(address) + after, self.addresses[address], value)
        for session in self._sessions:
            value = value.replace(session, "<session>")
        return _CONTAINER.sub("<container>", value)

    def reply(self, value: str) -> str:
        """A server's reply: queue ids (Postfix), LMTP session ids, message sizes and Dovecot's timings vary per
        run."""
        value = _TIMING.sub("(<timing> secs)", _QUEUE_ID.sub("<queue-id>", self.text(value)))
        return _SIZE.sub("<n> bytes", _SESSION_TOKEN.sub("<session>", value))

    def fields(self, fields: Mapping[str, str]) -> dict[str, str]:
        out = {}
        for key, value in fields.items():
            value = self.text(value)
            if key in PORT_FIELDS and value not in WELL_KNOWN_PORTS and value not in self.given:
                value = "<port>"
            elif key in SESSION_FIELDS:
                value = self._session(value)
            elif key == "queue_id":
                value = "<queue-id>"
            out[key] = value
        return out

    def _session(self, value: str) -> str:
        base, sep, suffix = value.partition(":")
        if base and base not in self.given:
            base = "<session>"
        return base + sep + suffix

    def log_line(self, line: str) -> str:
        line = _TIMING.sub("(<timing> secs)", _TIMESTAMP.sub("", line.strip()))
        # Session ids first, while they are still whole: later rules would cut them up.
        line = _PROCESS_PREFIX.sub(lambda m: f"{m.group('name')}<pid><{self._session(m.group('session'))}>", line)
        line = re.sub(r"session=<([^>]*)>", lambda m: f"session=<{self._session(m.group(1))}>", line)
        line = _SESSION_TOKEN.sub("<session>", self.text(_PID.sub(r"\g<name>(<pid>)", line)))
        line = _DISCONNECT_SIDE.sub("Disconnected by <side>", _QUEUE_ID.sub("<queue-id>", line))
        return _NUMBER.sub("<n>", _FLOAT.sub("<n>", _SECONDS.sub("<n>s ", line)))
