"""The scenario model of a Postfix node."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from harness.kinds.base import NodeModel
from harness.kinds.operator import Versioned, owned_problem, read_config_file, texts_of, top_level_settings
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


class PostfixNode(NodeModel):
    """A real Postfix smtpd (ports 25 and 587) that accepts mail for example.test/example.net and discards it.
    `trust` is smtpd_authorized_xclient_hosts."""

    kind: Literal["postfix"]
    inet_protocols: Literal["all", "ipv4"] = "all"
    haproxy: bool = False
    """Also run smtpd with smtpd_upstream_proxy_protocol = haproxy (on 10025 and 10587): a front such as HAProxy
    connects there with a PROXY header. Postfix has no trust list for it: every connection there must send one."""
    settings: dict[str, str | int] = Field(default_factory=dict)
    """The operator's own main.cf settings (after the harness's, so they win)."""
    config: Versioned | None = None
    """The operator's own main.cf text, or texts per version key; after `settings`."""
    config_file: str | None = None
    """A main.cf fragment beside the scenario (read at load time); after `config`."""
    master: dict[str, str] = Field(default_factory=dict)
    """master.cf entries (`service/type: entry`, as `postconf -M` takes them), e.g.
    `{"2525/inet": "2525 inet n - n - - smtpd -o smtpd_upstream_proxy_protocol=haproxy"}`."""

    _config_file = field_validator("config_file", mode="before")(read_config_file)

    @field_validator("settings")
    @classmethod
    def _settings(cls, value: dict[str, str | int]) -> dict[str, str | int]:
        problem = owned_problem(value, OWNED)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("config", "config_file")
    @classmethod
    def _config(cls, value: Versioned | None) -> Versioned | None:
        problem = owned_problem((name for text in texts_of(value) for name in top_level_settings(text)), OWNED)
        if problem:
            raise ValueError(problem)
        return value

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
