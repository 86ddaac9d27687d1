"""The scenario model of a Dovecot node."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from harness.kinds.base import NodeModel
from harness.kinds.operator import Versioned, owned_problem, read_config_file, texts_of, top_level_settings
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


class DovecotNode(NodeModel):
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
    settings: dict[str, str | int] = Field(default_factory=dict)
    """The operator's own settings (`name = value` after the harness's config, so they win)."""
    config: Versioned | None = None
    """The operator's own config text (sections included), or texts per version key; after `settings`."""
    config_file: str | None = None
    """A file beside the scenario with the operator's config text (read at load time); after `config`."""

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
