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
            raise ValueError(f"`advertise:` lists XCLIENT attributes; {self.protocol.upper()} has none")
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
