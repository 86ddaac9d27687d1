"""Scenario + server versions + a subnet -> Plan: nodes, addresses, links, trust lists. Pure."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.check.matchers import PSEUDO_FIELDS, Context
from harness.kinds import registry
from harness.kinds.base import NodeModel
from harness.load.scenario import CLIENT, Scenario

FIRST_NODE_HOST = 10


@dataclass(frozen=True)
class NodePlan:
    name: str
    spec: NodeModel
    address: str
    upstream: str | None
    trusted_networks: tuple[str, ...]
    address6: str | None = None
    networks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Every trust list of the node (`trust_lists()`) as networks, by field; `trust` is `trusted_networks`."""
    references: Mapping[str, str] = field(default_factory=dict)
    """The addresses of the other nodes the node's settings name (its `node_references()`), by field."""

    @property
    def kind(self) -> str:
        return self.spec.kind

    def describe(self) -> str:
        return registry.get(self.spec.kind).describe(self.spec)


@dataclass(frozen=True)
class Plan:
    scenario: Scenario
    versions: Mapping[str, str]
    """family -> version (in a rollout state, of the family's first tier)."""
    subnet: str
    client_address: str
    nodes: Mapping[str, NodePlan]
    forward_names: tuple[str, ...]
    subnet6: str | None = None
    client_address6: str | None = None
    node_versions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """node -> family -> version of every server node, and of each hop of the harness's own the version of the
    server that sends to it (what it records was sent by that server)."""

    def version_of(self, name: str) -> str | None:
        """The server version a node runs (None for the harness's own hops)."""
        family = registry.get(self.nodes[name].kind).family
        if family is None:
            return None
        return self.node_versions.get(name, {}).get(family, self.versions.get(family))

    @property
    def context(self) -> Context:
        addresses = {name: node.address for name, node in self.nodes.items()}
        addresses |= {f"{name}.v6": node.address6 for name, node in self.nodes.items() if node.address6}
        if self.client_address6:
            addresses[f"{CLIENT}.v6"] = self.client_address6
        servers = {name: versions for name, versions in self.node_versions.items()
                   if registry.get(self.nodes[name].kind).family is not None}
        return Context({**addresses, CLIENT: self.client_address}, self.versions, self.node_versions, servers)

    @property
    def loops(self) -> bool:
        """Whether a client's path along `to:` links comes back to a node it passed: a ring's laps go on after
        the client has its answer."""
        return any(chain[-1] in chain[:-1] for chain in self.chains())

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


def plan(scenario: Scenario, versions: Mapping[str, str], subnet: str, subnet6: str | None = None,
         node_versions: Mapping[str, Mapping[str, str]] | None = None) -> Plan:
    """Addresses are fixed up front (gateway = the client, nodes from .10 on), so configs render before start.
    With `subnet6` every node also gets the IPv6 address of the same host number."""
    addresses, client_address = _addresses(scenario, subnet)
    addresses6, client_address6 = _addresses(scenario, subnet6) if subnet6 else ({}, None)
    known = {**addresses, CLIENT: client_address}
    known6 = {**addresses6, CLIENT: client_address6} if client_address6 else {}
    nodes = {
        name: NodePlan(
            name=name,
            spec=spec,
            address=addresses[name],
            upstream=addresses[spec.to] if spec.to else None,
            trusted_networks=tuple(net for entry in spec.trust for net in _networks_of(entry, known, known6)),
            networks={field: tuple(net for entry in entries for net in _networks_of(entry, known, known6))
                      for field, entries in spec.trust_lists().items()},
            references={field: addresses[other] for field, other in spec.node_references().items()},
            address6=addresses6.get(name),
        )
        for name, spec in scenario.nodes.items()
    }
    return Plan(scenario, dict(versions), subnet, client_address, nodes, forward_names(scenario), subnet6,
                client_address6, dict(node_versions or {}))


def _addresses(scenario: Scenario, subnet: str) -> tuple[dict[str, str], str]:
    network = ipaddress.ip_network(subnet)
    gateway = network.network_address + 1
    addresses = {name: str(gateway + FIRST_NODE_HOST - 1 + index) for index, name in enumerate(scenario.nodes)}
    return addresses, str(gateway)


def forward_names(scenario: Scenario) -> tuple[str, ...]:
    """Names of forwarded fields the scenario sends or expects, so servers can be told to log them."""
    names: list[str] = []
    for spec in scenario.nodes.values():
        for _protocol, sent in spec.sends():
            names += _forward_keys(sent) + _xclient_forward_keys(sent)
    for session in scenario.clients:
        names += _forward_keys(session.id or {}) + _xclient_forward_keys(session.xclient or {})
        names += list(session.mail.forward) if session.mail else []
    for node_expect in scenario.expect.values():
        names += [key for _, fields in node_expect.entries("forward") for key in fields
                  if key not in PSEUDO_FIELDS]
    return tuple(dict.fromkeys(names))


def _forward_keys(fields: Mapping[str, object]) -> list[str]:
    return [key[len("x-forward-"):] for key in fields if key.lower().startswith("x-forward-")]


def _xclient_forward_keys(attributes: Mapping[str, object]) -> list[str]:
    """Names inside a FORWARD attribute given as a mapping ({FORWARD: {tenant: acme}})."""
    forward = next((value for key, value in attributes.items() if key.upper() == "FORWARD"), None)
    return list(forward) if isinstance(forward, dict) else []


def _networks_of(entry: str, addresses: Mapping[str, str], addresses6: Mapping[str, str]) -> list[str]:
    """A node name -> its address/32 (and /128 on an IPv6 network); `<node>/<prefix>` -> the IPv4 network of
    that size around it; anything else is an address or network as given."""
    name, _, prefix = entry.partition("/")
    if name.endswith(".v6") and name.removesuffix(".v6") in addresses6:
        return [str(ipaddress.ip_network(f"{addresses6[name.removesuffix('.v6')]}/{prefix or 128}", strict=False))]
    if name in addresses:
        networks = [str(ipaddress.ip_network(f"{addresses[name]}/{prefix or 32}", strict=False))]
        if name in addresses6 and not prefix:
            networks.append(f"{addresses6[name]}/128")
        return networks
    return [str(ipaddress.ip_network(entry, strict=False))]
