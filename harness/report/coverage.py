"""Which scenarios cover which forwarding parameter, per protocol and server version -> docs/COVERAGE.md.

A scenario covers a parameter of a protocol when one of its clients or inject relays of that protocol sends
it (ID key, XCLIENT attribute, XRCPTFORWARD), or when it expects it at a node (an `id`/`xclient` field, or
`forward` for forwarded fields). Columns are the server versions the scenario runs on."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.kinds import registry
from harness.load.scenario import Scenario
from harness.plan.versions import Matrix, combinations
from harness.protocol.table import PROTOCOLS

SPEC: dict[str, tuple[str, ...]] = {name: row.parameters for name, row in PROTOCOLS.items()}
"""Rows of the table: every parameter of the forwarding spec per protocol (the protocol table's `parameters`)."""


def family_of(protocol: str) -> str:
    """The server family whose versions are a protocol's columns: the first server kind that serves it."""
    return next(kind.family for kind in registry.server_kinds() if protocol in kind.serves and kind.family)


@dataclass(frozen=True)
class Row:
    protocol: str
    parameter: str
    cells: Mapping[str, tuple[str, ...]]

    @property
    def empty(self) -> bool:
        return not any(self.cells.values())


def table(scenarios: Sequence[Scenario], releases_of: Matrix) -> list[Row]:
    """The coverage table: one row per spec parameter, one cell per server version of the protocol's family."""
    covered: dict[tuple[str, str], dict[str, list[str]]] = {}
    for scenario in scenarios:
        labels = _labels(scenario, releases_of)
        for protocol, parameter in sorted(covers(scenario)):
            for label in labels.get(family_of(protocol), []):
                covered.setdefault((protocol, parameter), {}).setdefault(label, []).append(scenario.name)
    rows = []
    for protocol, parameters in SPEC.items():
        columns = [release.label for release in releases_of[family_of(protocol)]]
        for parameter in parameters:
            found = covered.get((protocol, parameter), {})
            cells = {label: tuple(sorted(set(found.get(label, [])))) for label in columns}
            rows.append(Row(protocol, parameter, cells))
    return rows


def _labels(scenario: Scenario, releases_of: Matrix) -> dict[str, list[str]]:
    labels: dict[str, list[str]] = {}
    for combo in combinations(scenario.families(), scenario.pins(), {}, releases_of=releases_of):
        for release in combo.releases:
            labels.setdefault(release.family, [])
            if release.label not in labels[release.family]:
                labels[release.family].append(release.label)
    return labels


def covers(scenario: Scenario) -> set[tuple[str, str]]:
    """(protocol, parameter) pairs this scenario sends or expects."""
    found: set[tuple[str, str]] = set()
    protocols = _protocols(scenario)
    for protocol, sent in _sent(scenario):
        found |= {(protocol, parameter) for parameter in _parameters(protocol, sent)}
    for node_expect in scenario.expect.values():
        for protocol in protocols:
            expected = {key: value for category in ("id", "xclient")
                        for _, fields in node_expect.entries(category) for key, value in fields.items()}
            if node_expect.entries("forward"):
                expected["x-forward-x" if _by_id(protocol) else "FORWARD"] = "x"
            if getattr(node_expect, "ttl", None) is not None:
                expected["x-proxy-ttl" if _by_id(protocol) else "TTL"] = "x"
            found |= {(protocol, parameter) for parameter in _parameters(protocol, expected)}
    return {(protocol, parameter) for protocol, parameter in found if parameter in SPEC[protocol]}


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
             "that send or expect the parameter on that server version. `tests/test_coverage.py` fails when a row",
             "is empty or this file is out of date.", ""]
    for protocol in SPEC:
        protocol_rows = [row for row in rows if row.protocol == protocol]
        columns = list(protocol_rows[0].cells)
        lines += [f"## {protocol}", "", "| parameter | " + " | ".join(columns) + " |",
                  "|---|" + "---|" * len(columns)]
        for row in protocol_rows:
            cells = [", ".join(f"`{name}`" for name in row.cells[label]) or "**none**" for label in columns]
            lines.append(f"| `{row.parameter}` | " + " | ".join(cells) + " |")
        lines.append("")
    if hops is not None:
        lines += ["## hops", "", "Each kind of node and the scenarios that have one (each runs on every version of "
                  "the servers it holds).", "", "| node kind | scenarios |", "|---|---|"]
        lines += [f"| `{kind}` | {', '.join(f'`{name}`' for name in names) or '**none**'} |"
                  for kind, names in hops.items()]
        lines.append("")
    return "\n".join(lines)
