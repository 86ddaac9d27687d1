"""The scenario model of a relay node. Modes and protocols are the relay's own and the protocol table's: one
definition each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, model_validator

from harness.kinds.base import NodeModel
from harness.load.values import Value, XclientAttributes
from harness.protocol.table import NAMES, PROTOCOLS, ProtocolRow
from harness.relay.config import ConfigError, Mode, Mutation


class RelayNode(NodeModel):
    """A Python relay hop: `inject` adds ID/XCLIENT in front of `to`; `pass` forwards unchanged and records what
    crosses its link; `mutate` is a faulty `pass`; `capture` is a sink recording all it receives."""

    kind: Literal["relay"]
    mode: Mode
    protocol: Literal[NAMES] = "imap"  # type: ignore[valid-type]
    id: dict[str, Value] = Field(default_factory=dict)
    xclient: XclientAttributes = Field(default_factory=dict)
    rcpt_forward: dict[str, Value] = Field(default_factory=dict)
    advertise: tuple[str, ...] | None = None
    accept_login: bool = False
    xrcptforward: bool = True
    """capture (LMTP): whether LHLO offers XRCPTFORWARD (without it a proxy drops the RCPT parameter)."""
    capabilities: tuple[str, ...] | None = None
    """capture (IMAP): the CAPABILITY list in the greeting and the CAPABILITY reply (default: the relay's own,
    `IMAP4rev1 ID LITERAL+ AUTH=PLAIN`); leave ID out and a proxy sends no ID."""
    greeting_capability: bool = True
    """capture (IMAP): `false` greets `* OK mailhops capture ready`, without `[CAPABILITY ...]`."""
    mutate: Mutation | None = None

    @property
    def row(self) -> ProtocolRow:
        return PROTOCOLS[self.protocol]

    @model_validator(mode="after")
    def _mode_fields(self) -> RelayNode:
        inject_only = {"id": self.id, "xclient": self.xclient, "rcpt_forward": self.rcpt_forward}
        if self.mode != "capture" and self.to is None:
            raise ValueError(f"a {self.mode} relay needs `to:` (the node it forwards to)")
        if self.mode == "capture" and self.to is not None:
            raise ValueError("a capture relay is a terminal sink: it takes no `to:`")
        if self.mode != "inject" and any(inject_only.values()):
            given = ", ".join(f"`{k}:`" for k, v in inject_only.items() if v)
            raise ValueError(f"only an inject relay sends its own parameters: a {self.mode} relay takes no {given}")
        if self.mode != "capture" and (self.advertise is not None or self.accept_login):
            raise ValueError("`advertise:` and `accept_login:` are for capture relays")
        offers = {"xrcptforward": not self.xrcptforward, "capabilities": self.capabilities is not None,
                  "greeting_capability": not self.greeting_capability}
        if self.mode != "capture" and any(offers.values()):
            given = ", ".join(f"`{k}:`" for k, v in offers.items() if v)
            raise ValueError(f"{given}: what a next hop offers is for capture relays")
        if (self.mode == "mutate") != (self.mutate is not None):
            raise ValueError("a mutate relay needs `mutate:` (and only a mutate relay takes it)")
        row = self.row
        if self.mutate is not None:
            try:
                self.mutate.set_fields(self.protocol)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        if self.id and row.forwards_with != "id":
            raise ValueError(f"`id:` is IMAP's; {self.protocol} forwards with `xclient:`")
        if self.xclient and row.forwards_with != "xclient":
            raise ValueError(f"{self.protocol.upper()} forwards with `id:`, not `xclient:`")
        if self.rcpt_forward and not row.rcpt_forward:
            raise ValueError("`rcpt_forward:` (XRCPTFORWARD) is LMTP's")
        if self.advertise is not None and row.forwards_with != "xclient":
            raise ValueError(f"`advertise:` lists XCLIENT attributes; {self.protocol.upper()} has none"
                             + (" (an IMAP capture offers `capabilities:`)" if row.forwards_with == "id" else ""))
        if not self.xrcptforward and not row.rcpt_forward:
            raise ValueError("`xrcptforward:` (XRCPTFORWARD in LHLO) is LMTP's")
        if (self.capabilities is not None or not self.greeting_capability) and row.forwards_with != "id":
            raise ValueError(f"`capabilities:` and `greeting_capability:` are IMAP's; {self.protocol.upper()} "
                             "offers XCLIENT with `advertise:`")
        if self.capabilities is not None and not self.capabilities:
            raise ValueError("`capabilities:` lists at least one capability (IMAP4rev1)")
        return self

    def protocols(self) -> tuple[str, ...]:
        return (self.protocol,)

    def sends(self) -> list[tuple[str, Mapping[str, object]]]:
        if self.mode != "inject":
            return []
        sent: list[tuple[str, Mapping[str, object]]] = [(self.protocol, {**self.id, **self.xclient})]
        if self.rcpt_forward:
            sent.append((self.protocol, {"FORWARD": self.rcpt_forward}))
        return sent
