"""Which scenarios cover which forwarding parameter, per protocol and server version -> docs/COVERAGE.md.

A scenario covers a parameter of a protocol when one of its clients or inject relays of that protocol sends
it (ID key, XCLIENT attribute, XRCPTFORWARD), or when it expects it at a node (an `id`/`xclient` field, or
`forward` for forwarded fields). Columns are the server versions the scenario runs on."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.load.scenario import RelayNode, Scenario
from harness.plan.versions import RELEASES, combinations

IMAP = ("x-originating-ip", "x-originating-port", "x-connected-ip", "x-connected-port", "x-proxy-ttl",
        "x-session-id", "x-session-ext-id", "x-forward-<name>")
POP3 = ("ADDR", "PORT", "SESSION", "TTL", "FORWARD")
SMTP = ("ADDR", "ADDR=IPV6:", "PORT", "SESSION", "HELO", "LOGIN", "TIMEOUT", "TTL", "PROTO=SMTP", "PROTO=ESMTP",
        "PROTO=LMTP", "FORWARD")
POSTFIX_ONLY = ("NAME", "DESTADDR", "DESTPORT")
SPEC: dict[str, tuple[str, ...]] = {
    "imap": IMAP,
    "pop3": POP3,
    "submission": SMTP,
    "lmtp": SMTP,
    "smtp": SMTP + POSTFIX_ONLY,
}
"""Rows of the table: every parameter of Dovecot's forwarding spec (and Postfix's XCLIENT) per protocol."""
FAMILY_OF = {"imap": "dovecot", "pop3": "dovecot", "submission": "dovecot", "lmtp": "dovecot", "smtp": "postfix"}


@dataclass(frozen=True)
class Row:
    protocol: str
    parameter: str
    cells: Mapping[str, tuple[str, ...]]

    @property
    def empty(self) -> bool:
        return not any(self.cells.values())


def table(scenarios: Sequence[Scenario]) -> list[Row]:
    """The coverage table: one row per spec parameter, one cell per server version of the protocol's family."""
    covered: dict[tuple[str, str], dict[str, list[str]]] = {}
    for scenario in scenarios:
        labels = _labels(scenario)
        for protocol, parameter in sorted(covers(scenario)):
            for label in labels.get(FAMILY_OF[protocol], []) or labels.get("dovecot", []):
                covered.setdefault((protocol, parameter), {}).setdefault(label, []).append(scenario.name)
    rows = []
    for protocol, parameters in SPEC.items():
        columns = [release.label for release in RELEASES[FAMILY_OF[protocol]]]
        for parameter in parameters:
            found = covered.get((protocol, parameter), {})
            cells = {label: tuple(sorted(set(found.get(label, [])))) for label in columns}
            rows.append(Row(protocol, parameter, cells))
    return rows


def _labels(scenario: Scenario) -> dict[str, list[str]]:
    pins = {"dovecot": scenario.servers.dovecot, "postfix": scenario.servers.postfix}
    labels: dict[str, list[str]] = {}
    for combo in combinations(scenario.families(), pins, {}):
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
            if node_expect.forward:
                expected["FORWARD" if protocol != "imap" else "x-forward-x"] = "x"
            if node_expect.ttl is not None:
                expected["x-proxy-ttl" if protocol == "imap" else "TTL"] = "x"
            found |= {(protocol, parameter) for parameter in _parameters(protocol, expected)}
    return {(protocol, parameter) for protocol, parameter in found if parameter in SPEC[protocol]}


def _protocols(scenario: Scenario) -> set[str]:
    protocols = {session.protocol for session in scenario.clients}
    protocols |= {node.protocol for node in scenario.nodes.values() if isinstance(node, RelayNode)}
    return protocols


def _sent(scenario: Scenario) -> Iterable[tuple[str, Mapping[str, object]]]:
    for session in scenario.clients:
        sent: dict[str, object] = {**(session.id or {}), **(session.xclient or {})}
        if session.mail is not None and session.mail.forward:
            sent["FORWARD"] = session.mail.forward
        yield session.protocol, sent
    for node in scenario.nodes.values():
        if isinstance(node, RelayNode) and node.mode == "inject":
            sent = {**node.id, **node.xclient}
            if node.rcpt_forward:
                sent["FORWARD"] = node.rcpt_forward
            yield node.protocol, sent


def _parameters(protocol: str, fields: Mapping[str, object]) -> set[str]:
    names = set()
    for key, value in fields.items():
        if protocol == "imap":
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


def _is_ipv6(value: object) -> bool:
    if not isinstance(value, str):
        return False
    text = value[5:] if value.upper().startswith("IPV6:") else value
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False


def markdown(rows: Sequence[Row]) -> str:
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
    return "\n".join(lines)
