"""The scenario model of a Postfix node."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from harness.kinds.base import NodeModel
from harness.kinds.operator import OperatorSettings
from harness.protocol.table import PROTOCOLS

SERVED = ("smtp", "submission")
HAPROXY_PORTS = {name: 10000 + PROTOCOLS[name].port for name in SERVED}
"""Where a node with `haproxy: true` runs an smtpd with smtpd_upstream_proxy_protocol = haproxy."""
OWNED = {
    "maillog_file": "it reads the node's log from standard output",
    "smtpd_client_port_logging": "it parses the client's port from the log",
    "smtpd_recipient_restrictions": "its WARN rule logs every recipient as Postfix recorded it",
    "inet_interfaces": "it connects to the node's planned addresses",
    "inet_protocols": "set it with the node's `inet_protocols:`",
}
"""main.cf settings an operator's config may not change: the harness needs them to observe the node."""


class PostfixNode(NodeModel, OperatorSettings):
    """A real Postfix smtpd (ports 25 and 587) that accepts mail for example.test/example.net and discards it.
    `trust` is smtpd_authorized_xclient_hosts."""

    kind: Literal["postfix"]
    inet_protocols: Literal["all", "ipv4"] = "all"
    haproxy: bool = False
    """Also run smtpd with smtpd_upstream_proxy_protocol = haproxy (on 10025 and 10587): a front such as HAProxy
    connects there with a PROXY header. Postfix has no trust list for it: every connection there must send one."""
    OWNED: ClassVar[Mapping[str, str]] = OWNED
    master: dict[str, str] = Field(default_factory=dict)
    """master.cf entries (`service/type: entry`, as `postconf -M` takes them), e.g.
    `{"2525/inet": "2525 inet n - n - - smtpd -o smtpd_upstream_proxy_protocol=haproxy"}`."""

    @field_validator("master")
    @classmethod
    def _master(cls, value: dict[str, str]) -> dict[str, str]:
        for service, entry in value.items():
            if "'" in service + entry or "/" not in service:
                raise ValueError(f"`{service}`: a master.cf entry is `service/type: entry` (no quotes)")
        return value

    @model_validator(mode="after")
    def _terminal(self) -> PostfixNode:
        if self.to is not None:
            raise ValueError("a postfix node delivers (discards) the mail itself: it takes no `to:`")
        return self

    def proxy_protocol_port(self, protocol: str) -> int | None:
        return HAPROXY_PORTS.get(protocol) if self.haproxy else None
