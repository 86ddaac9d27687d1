"""Which session handler serves each protocol and mode, built from the protocol table.

A row's relay session module gives ``HANDLERS`` (capture, inject) and its wire family's ``WIRE``;
the stream hops (pass, mutate) are the same for every protocol, given the family's ``WIRE``. A new
protocol is a row of :mod:`harness.protocol.table`, and nothing here.
"""

from __future__ import annotations

from harness.protocol.table import PROTOCOLS, ROWS, ProtocolRow
from harness.relay import passthrough
from harness.relay.scan import Scanner
from harness.relay.server import Handler
from harness.relay.wires import Wire


def _wires() -> dict[str, Wire]:
    wires: dict[str, Wire] = {}
    for row in ROWS:
        wire = _session_wire(row)
        if wires.setdefault(row.wire, wire) is not wire:
            raise RuntimeError(f"protocol {row.name}: its relay session gives another {row.wire} wire than the rest")
    return wires


def _session_wire(row: ProtocolRow) -> Wire:
    wire = getattr(row.relay_module(), "WIRE", None)
    if not isinstance(wire, Wire):
        raise RuntimeError(f"protocol {row.name}: {row.relay_session} exports no WIRE")
    return wire


WIRES: dict[str, Wire] = _wires()
"""The relay's one per-wire table, keyed by the rows' ``wire``."""
HANDLERS: dict[str, dict[str, Handler]] = {
    row.name: {**row.relay_module().HANDLERS, **passthrough.handlers(WIRES[row.wire])} for row in ROWS
}


def wire_of(protocol: str) -> Wire:
    """The wire family of ``protocol``, as the stream hops see it."""
    return WIRES[PROTOCOLS[protocol].wire]


def scanner_for(protocol: str) -> Scanner:
    """A fresh scanner for one client stream of ``protocol``."""
    return wire_of(protocol).scanner()
