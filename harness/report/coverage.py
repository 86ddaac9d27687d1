"""Which scenarios cover which forwarding parameter, per protocol and server version -> docs/COVERAGE.md.

A scenario covers a parameter of a protocol on a version when it asserts it at a hop there: an `id`/`xclient`
field or `ttl` at a capture, `forward` for forwarded fields, or the fields of a login line, an auth request, a
delivery or a Postfix `client`/`recipient` line that carry it (`rip` for ADDR / x-originating-ip, `session`
for SESSION, `fwd_<name>` for FORWARD, ...); for what a server kind shows in no log line (Postfix: DESTADDR,
DESTPORT, PROTO=SMTP), the session's exact reply to the XCLIENT that carried it straight to that server. A
scenario that only sends it (a client's or an inject relay's ID key, XCLIENT attribute, XRCPTFORWARD) is listed
apart. Columns are the server versions the scenario runs on."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.check.matchers import MATCHER_KEYS, RANGE_KEYS
from harness.kinds import registry
from harness.load.scenario import NodeExpect, Scenario
from harness.plan.versions import Matrix, combinations
from harness.protocol.table import PROTOCOLS

SPEC: dict[str, tuple[str, ...]] = {name: row.parameters for name, row in PROTOCOLS.items()}
"""Rows of the table: every parameter of the forwarding spec per protocol (the protocol table's `parameters`)."""


def family_of(protocol: str) -> str:
    """The server family whose versions are a protocol's columns: the first server kind that serves it."""
    return next(kind.family for kind in registry.server_kinds() if protocol in kind.serves and kind.family)


FIELD_PARAMETERS: dict[str, dict[str, str]] = {
    "id": {"rip": "x-originating-ip", "rport": "x-originating-port", "lip": "x-connected-ip",
           "lport": "x-connected-port", "session": "x-session-id"},
    "xclient": {"rip": "ADDR", "rport": "PORT", "session": "SESSION", "addr": "ADDR", "port": "PORT",
                "helo": "HELO", "proto": "PROTO", "sasl_username": "LOGIN", "name": "NAME"},
}
"""Fields of what a hop logged -> the parameter whose value they show, per way of forwarding (the login line's
`rip` is what x-originating-ip or ADDR said); `fwd_<name>` shows a forwarded field."""
LOGGED_CATEGORIES = ("login", "proxied", "auth", "delivery", "client", "recipient")


@dataclass(frozen=True)
class Row:
    protocol: str
    parameter: str
    cells: Mapping[str, tuple[str, ...]]
    """version label -> the scenarios that assert the parameter at a hop there."""
    sent_only: Mapping[str, tuple[str, ...]]
    """version label -> the scenarios that send it there but assert it at no hop."""

    @property
    def empty(self) -> bool:
        return not any(self.cells.values())


def table(scenarios: Sequence[Scenario], releases_of: Matrix) -> list[Row]:
    """The coverage table: one row per spec parameter, one cell per server version of the protocol's family."""
    covered: dict[tuple[str, str], dict[str, list[str]]] = {}
    sent: dict[tuple[str, str], dict[str, list[str]]] = {}
    for scenario in scenarios:
        labels = _labels(scenario, releases_of)
        asserted = covers(scenario)
        for into, pairs in ((covered, asserted), (sent, sends(scenario) - asserted)):
            for protocol, parameter in sorted(pairs):
                for label in labels.get(family_of(protocol), []):
                    into.setdefault((protocol, parameter), {}).setdefault(label, []).append(scenario.name)
    rows = []
    for protocol, parameters in SPEC.items():
        columns = [release.label for release in releases_of[family_of(protocol)]]
        for parameter in parameters:
            cells, apart = covered.get((protocol, parameter), {}), sent.get((protocol, parameter), {})
            rows.append(Row(protocol, parameter, {label: tuple(sorted(set(cells.get(label, [])))) for label in columns},
                            {label: tuple(sorted(set(apart.get(label, [])))) for label in columns}))
    return rows


def _labels(scenario: Scenario, releases_of: Matrix) -> dict[str, list[str]]:
    labels: dict[str, list[str]] = {}
    for combo in combinations(scenario.families(), scenario.pins(), {}, releases_of=releases_of):
        for release in combo.releases:
            labels.setdefault(release.family, [])
            if release.label not in labels[release.family]:
                labels[release.family].append(release.label)
    return labels


def sends(scenario: Scenario) -> set[tuple[str, str]]:
    """(protocol, parameter) pairs a client or an inject relay of this scenario sends."""
    found = {(protocol, parameter) for protocol, sent in _sent(scenario) for parameter in _parameters(protocol, sent)}
    return {(protocol, parameter) for protocol, parameter in found if parameter in SPEC[protocol]}


def covers(scenario: Scenario) -> set[tuple[str, str]]:
    """(protocol, parameter) pairs this scenario asserts at a hop."""
    found: set[tuple[str, str]] = set()
    protocols = _protocols(scenario)
    for node_expect in scenario.expect.values():
        for protocol in protocols:
            expected = {key: value for category in ("id", "xclient")
                        for _, fields in node_expect.entries(category) for key, value in fields.items()}
            expected |= _logged(protocol, node_expect)
            if node_expect.entries("forward"):
                expected["x-forward-x" if _by_id(protocol) else "FORWARD"] = "x"
            if getattr(node_expect, "ttl", None) is not None:
                expected["x-proxy-ttl" if _by_id(protocol) else "TTL"] = "x"
            found |= {(protocol, parameter) for parameter in _parameters(protocol, expected)}
    found |= _answered(scenario)
    return {(protocol, parameter) for protocol, parameter in found if parameter in SPEC[protocol]}


def _answered(scenario: Scenario) -> set[tuple[str, str]]:
    """What a server showed only in its exact reply to the XCLIENT that carried it (its kind's
    `shown_only_in_reply`), where a session sends it straight to such a server and expects that reply."""
    found = set()
    for session in scenario.clients:
        node = scenario.nodes.get(session.to)
        shown = registry.get(node.kind).shown_only_in_reply if node is not None else frozenset()
        for attributes, reply in ((session.xclient, session.expect.xclient_reply),
                                  (session.xclient_again, session.expect.xclient_again_reply)):
            if attributes and _exact(reply):
                found |= {(session.protocol, p) for p in _parameters(session.protocol, attributes) if p in shown}
    return found


def _exact(expected: object) -> bool:
    """A literal reply, or a version map of literal replies."""
    if isinstance(expected, dict):
        keys = set(expected)
        return bool(keys) and not keys & (MATCHER_KEYS | RANGE_KEYS) and all(
            _exact(value) for value in expected.values())
    return isinstance(expected, str)


def _logged(protocol: str, node_expect: NodeExpect) -> dict[str, object]:
    """The parameters of `protocol` that the logged lines under this expectation show, as the values expected."""
    names = FIELD_PARAMETERS["id" if _by_id(protocol) else "xclient"]
    shown: dict[str, object] = {}
    for category in LOGGED_CATEGORIES:
        for _, fields in node_expect.entries(category):
            service = fields.get("service")
            if isinstance(service, str) and service != protocol:
                continue
            for key, value in fields.items():
                if key.startswith("fwd_"):
                    shown["x-forward-x" if _by_id(protocol) else "FORWARD"] = value
                elif key in names:
                    shown[names[key]] = value
    return shown


def _protocols(scenario: Scenario) -> set[str]:
    protocols = {session.protocol for session in scenario.clients}
    protocols |= {protocol for node in scenario.nodes.values() for protocol in node.protocols()}
    return protocols


def _sent(scenario: Scenario) -> Iterable[tuple[str, Mapping[str, object]]]:
    for session in scenario.clients:
        sent: dict[str, object] = {**(session.id or {}), **(session.xclient or {})}
        if session.mail is not None and session.mail.forward:
            sent["FORWARD"] = session.mail.forward
        yield session.protocol, sent
    for node in scenario.nodes.values():
        yield from node.sends()


def _parameters(protocol: str, fields: Mapping[str, object]) -> set[str]:
    names = set()
    for key, value in fields.items():
        if _by_id(protocol):
            key = key.lower()
            names.add("x-forward-<name>" if key.startswith("x-forward-") else key)
            continue
        key = key.upper()
        if key == "ADDR":
            names.add("ADDR=IPV6:" if _is_ipv6(value) else "ADDR")
        elif key == "PROTO" and isinstance(value, str):
            names.add(f"PROTO={value.upper()}")
        else:
            names.add(key)
    return names


def _by_id(protocol: str) -> bool:
    """The protocol forwards with ID keys (IMAP), not XCLIENT attributes."""
    return PROTOCOLS[protocol].forwards_with == "id"


def _is_ipv6(value: object) -> bool:
    if not isinstance(value, str):
        return False
    if value.startswith("@"):
        return value.endswith(".v6")
    text = value[5:] if value.upper().startswith("IPV6:") else value
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False


def hop_rows(scenarios: Sequence[Scenario]) -> dict[str, tuple[str, ...]]:
    """Each registered node kind (each kind of hop) -> the scenarios that have such a node."""
    return {kind: tuple(sorted(s.name for s in scenarios if any(n.kind == kind for n in s.nodes.values())))
            for kind in registry.names()}


def markdown(rows: Sequence[Row], hops: Mapping[str, Sequence[str]] | None = None) -> str:
    """docs/COVERAGE.md: generated, never edited by hand."""
    lines = ["# Coverage of the forwarding spec", "",
             "Generated by `python -m harness coverage` from `scenarios/`; do not edit. A cell lists the scenarios",
             "that assert the parameter at a hop on that server version (what a capture received, or the field of a",
             "login line, auth request or Postfix line that shows it). Scenarios that only send it are listed apart",
             "under each table. `tests/test_coverage.py` fails when a cell is empty or this file is out of date.", ""]
    for protocol in SPEC:
        protocol_rows = [row for row in rows if row.protocol == protocol]
        columns = list(protocol_rows[0].cells)
        lines += [f"## {protocol}", "", "| parameter | " + " | ".join(columns) + " |",
                  "|---|" + "---|" * len(columns)]
        for row in protocol_rows:
            cells = [", ".join(f"`{name}`" for name in row.cells[label]) or "**none**" for label in columns]
            lines.append(f"| `{row.parameter}` | " + " | ".join(cells) + " |")
        lines.append("")
        apart = [(row.parameter, sorted({name for names in row.sent_only.values() for name in names}))
                 for row in protocol_rows]
        if any(names for _, names in apart):
            lines += ["Sent but asserted at no hop:", ""]
            lines += [f"- `{parameter}`: {', '.join(f'`{name}`' for name in names)}" for parameter, names in apart
                      if names]
            lines.append("")
    if hops is not None:
        lines += ["## hops", "", "Each kind of node and the scenarios that have one (each runs on every version of "
                  "the servers it holds).", "", "| node kind | scenarios |", "|---|---|"]
        lines += [f"| `{kind}` | {', '.join(f'`{name}`' for name in names) or '**none**'} |"
                  for kind, names in hops.items()]
        lines.append("")
    return "\n".join(lines)
