"""The scenario model of a Dovecot node."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from harness.kinds.base import NodeModel


class DovecotNode(NodeModel):
    """A real Dovecot server (IMAP, POP3, submission and LMTP at once): a proxy forwarding every login and
    every LMTP recipient to `to`, or a backend that logs users in and delivers mail."""

    kind: Literal["dovecot"]
    role: Literal["proxy", "backend"]
    password: str = "secret"
    proxy_noauth: bool = False
    submission_relay_host: str | None = None
    submission_relay_trusted: bool = False

    @model_validator(mode="after")
    def _role_fields(self) -> DovecotNode:
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
