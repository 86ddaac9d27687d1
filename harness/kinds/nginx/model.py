"""The scenario model of an nginx node: nginx's mail proxy in front of `to`."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from harness.kinds.base import NodeModel

SmtpAuth = Literal["plain", "login", "none"]


class NginxNode(NodeModel):
    """nginx's mail proxy (IMAP, POP3, SMTP): it greets the client itself, asks its auth_http endpoint (the
    harness's responder, beside it) where to go, and logs into `to` on the client's behalf. `xclient` is the SMTP
    `xclient on|off`; `smtp_auth` what nginx offers SMTP clients (`none` lets an unauthenticated client send:
    nginx asks auth_http at RCPT TO); `proxy_smtp_auth` makes nginx AUTH PLAIN at the backend with the client's
    login (it then leaves LOGIN out of XCLIENT)."""

    kind: Literal["nginx"]
    xclient: bool = True
    smtp_auth: tuple[SmtpAuth, ...] = ("plain", "login", "none")
    proxy_smtp_auth: bool = False

    @model_validator(mode="after")
    def _fields(self) -> NginxNode:
        if self.to is None:
            raise ValueError("an nginx node needs `to:` (the backend its auth_http endpoint sends every session to)")
        if self.trust:
            raise ValueError("an nginx node forwards what it sees and trusts no sender: it takes no `trust:` "
                             "(give its backend `trust: [<this node>]`)")
        if not self.smtp_auth:
            raise ValueError("`smtp_auth:` needs at least one method (`none` lets unauthenticated clients send)")
        return self
