"""The scenario model of an HAProxy node."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from harness.kinds.base import NodeModel

ProxyVersion = Literal["none", "v1", "v2", "v2-tlv"]


class HaproxyNode(NodeModel):
    """A real HAProxy in TCP mode in front of `to`: one frontend per protocol of the client sessions that reach
    it, each forwarding to `to` with a PROXY header of version `proxy` (to the next hop's PROXY listener, e.g.
    a Dovecot or Postfix node with `haproxy: true`), or without one (`proxy: none`, to the protocol's own port)."""

    kind: Literal["haproxy"]
    to: str
    proxy: ProxyVersion = "v2"
    """none: no header; v1: `send-proxy`; v2: `send-proxy-v2`; v2-tlv: `send-proxy-v2` with the TLVs HAProxy
    can add in TCP mode (SSL, UNIQUE_ID, CRC32C; from HAProxy 2.9 also AUTHORITY = `authority`)."""
    authority: str = "mail.example.test"
    """The AUTHORITY TLV (the server name a TLS client asked for) of `proxy: v2-tlv`, on HAProxy 2.9 and later."""

    @model_validator(mode="after")
    def _fields(self) -> HaproxyNode:
        if self.trust:
            raise ValueError("HAProxy takes no forwarded parameters: it has no `trust:` (the next hop trusts it, "
                             "e.g. a Dovecot node's `haproxy_trusted:`)")
        if "authority" in self.model_fields_set and self.proxy != "v2-tlv":
            raise ValueError("`authority:` is a TLV of `proxy: v2-tlv`")
        return self
