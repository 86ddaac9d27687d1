"""The scenario model of a Dovecot node."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import model_validator

from harness.kinds.base import NodeModel
from harness.kinds.operator import OperatorSettings
from harness.protocol.table import PROTOCOLS

SERVED = ("imap", "pop3", "submission", "lmtp")
HAPROXY_PORTS = {name: 10000 + PROTOCOLS[name].port for name in SERVED}
"""Where a node with `haproxy: true` takes PROXY headers; its plain listeners stay (the readiness probe uses them)."""
OWNED = {
    "log_path": "it reads the node's log lines from standard error",
    "info_log_path": "it reads the node's log lines from standard error",
    "debug_log_path": "it reads the node's log lines from standard error",
    "login_log_format_elements": "it parses rip, rport, lip, session and the forwarded fields of login lines",
    "log_debug": "it parses the auth and XCLIENT debug lines",
    "auth_debug": "it parses the auth debug lines",
    "auth_verbose": "it parses the auth lines",
    "imap_id_log": "it parses the ID lines of Dovecot 2.3",
    "listen": "it connects to the node's planned addresses",
    "protocols": "every protocol's listener is a hop of the scenario",
}
"""Settings an operator's config may not change: the harness needs them to observe the node."""


class DovecotNode(NodeModel, OperatorSettings):
    """A real Dovecot server (IMAP, POP3, submission and LMTP at once): a proxy forwarding every login and
    every LMTP recipient to `to`, or a backend that logs users in and delivers mail."""

    kind: Literal["dovecot"]
    role: Literal["proxy", "backend"]
    password: str = "secret"
    proxy_noauth: bool = False
    submission_relay_host: str | None = None
    submission_relay_trusted: bool = False
    haproxy: bool = False
    """Also listen with `haproxy = yes` (on 10000 + each protocol's port): a front such as HAProxy connects there
    with a PROXY header."""
    haproxy_trusted: tuple[str, ...] = ()
    """haproxy_trusted_networks: who may send a PROXY header."""
    OWNED: ClassVar[Mapping[str, str]] = OWNED

    @model_validator(mode="after")
    def _role_fields(self) -> DovecotNode:
        if self.haproxy_trusted and not self.haproxy:
            raise ValueError("`haproxy_trusted:` is for a node with `haproxy: true`")
        if self.role == "proxy" and self.to is None:
            raise ValueError("a proxy needs `to:` (the node it forwards logins to)")
        if self.role == "backend" and self.to is not None:
            raise ValueError("a backend does not forward: remove `to:` or make it role: proxy")
        if self.role == "proxy" and self.submission_relay_host is not None:
            raise ValueError("submission_relay_host is a backend setting (the MTA a logged-in user's mail goes to)")
        if self.role == "backend" and self.proxy_noauth:
            raise ValueError("proxy_noauth is a proxy setting")
        return self

    def node_references(self) -> dict[str, str]:
        return {"submission_relay_host": self.submission_relay_host} if self.submission_relay_host else {}

    def trust_lists(self) -> dict[str, tuple[str, ...]]:
        return {"trust": self.trust, "haproxy_trusted": self.haproxy_trusted}

    def proxy_protocol_port(self, protocol: str) -> int | None:
        port = HAPROXY_PORTS.get(protocol)
        return port if self.haproxy else None
