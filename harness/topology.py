"""Scenario + server versions + a subnet -> Plan: nodes, addresses, links, trust lists. Pure."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from harness.matchers import Context
from harness.scenario import CLIENT, DovecotNode, Node, RelayNode, Scenario

FIRST_NODE_HOST = 10
PROTOCOL_PORTS = {"imap": 143, "pop3": 110, "submission": 587, "lmtp": 24, "smtp": 25}


@dataclass(frozen=True)
class NodePlan:
    name: str
    spec: Node
    address: str
    upstream: str | None
    trusted_networks: tuple[str, ...]
    relay_host: str | None = None
    """Dovecot backends: the address of submission_relay_host."""

    @property
    def kind(self) -> str:
        return self.spec.kind

    def describe(self) -> str:
        if isinstance(self.spec, DovecotNode):
            return f"dovecot {self.spec.role}"
        if isinstance(self.spec, RelayNode):
            return f"relay {self.spec.mode} {self.spec.protocol}"
        return "postfix"


@dataclass(frozen=True)
class Plan:
    scenario: Scenario
    versions: Mapping[str, str]
    subnet: str
    client_address: str
    nodes: Mapping[str, NodePlan]
    forward_names: tuple[str, ...]

    @property
    def context(self) -> Context:
        addresses = {name: node.address for name, node in self.nodes.items()}
        return Context({**addresses, CLIENT: self.client_address}, self.versions)

    def chains(self) -> list[list[str]]:
        """Every path a client takes: from a client's first node along `to:` links (stops at a revisit)."""
        chains = []
        for start in dict.fromkeys(session.to for session in self.scenario.clients):
            chain = [CLIENT]
            current: str | None = start
            while current is not None and current not in chain:
                chain.append(current)
                current = self.nodes[current].spec.to
            if current is not None:
                chain.append(current)
            chains.append(chain)
        return chains


def plan(scenario: Scenario, versions: Mapping[str, str], subnet: str) -> Plan:
    """Addresses are fixed up front (gateway = the client, nodes from .10 on), so configs render before start."""
    network = ipaddress.ip_network(subnet)
    hosts = list(network.hosts())
    client_address = str(hosts[0])
    addresses = {name: str(hosts[FIRST_NODE_HOST - 1 + index]) for index, name in enumerate(scenario.nodes)}
    all_addresses = {**addresses, CLIENT: client_address}
    nodes = {
        name: NodePlan(
            name=name,
            spec=spec,
            address=addresses[name],
            upstream=addresses[spec.to] if spec.to else None,
            trusted_networks=tuple(_network_of(entry, all_addresses) for entry in spec.trust),
            relay_host=addresses[spec.submission_relay_host] if getattr(spec, "submission_relay_host", None) else None,
        )
        for name, spec in scenario.nodes.items()
    }
    return Plan(scenario, dict(versions), str(network), client_address, nodes, forward_names(scenario))


def forward_names(scenario: Scenario) -> tuple[str, ...]:
    """Names of forwarded fields the scenario sends or expects, so servers can be told to log them."""
    names: list[str] = []
    for spec in scenario.nodes.values():
        if isinstance(spec, RelayNode):
            names += _forward_keys(spec.id) + _xclient_forward_keys(spec.xclient) + list(spec.rcpt_forward)
    for session in scenario.clients:
        names += _forward_keys(session.id or {}) + _xclient_forward_keys(session.xclient or {})
        names += list(session.mail.forward) if session.mail else []
    for node_expect in scenario.expect.values():
        names += [key for _, fields in node_expect.entries("forward") for key in fields if key != "count"]
    return tuple(dict.fromkeys(names))


def _forward_keys(fields: Mapping[str, object]) -> list[str]:
    return [key[len("x-forward-"):] for key in fields if key.lower().startswith("x-forward-")]


def _xclient_forward_keys(attributes: Mapping[str, object]) -> list[str]:
    """Names inside a FORWARD attribute given as a mapping ({FORWARD: {tenant: acme}})."""
    forward = next((value for key, value in attributes.items() if key.upper() == "FORWARD"), None)
    return list(forward) if isinstance(forward, dict) else []


def _network_of(entry: str, addresses: Mapping[str, str]) -> str:
    """A node name -> its address/32; `<node>/<prefix>` -> the network of that size around it; else as given."""
    name, _, prefix = entry.partition("/")
    if name in addresses:
        return str(ipaddress.ip_network(f"{addresses[name]}/{prefix or 32}", strict=False))
    return str(ipaddress.ip_network(entry, strict=False))
