"""The scenario model of a Postfix node."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from harness.kinds.base import NodeModel


class PostfixNode(NodeModel):
    """A real Postfix smtpd (ports 25 and 587) that accepts mail for example.test/example.net and discards it.
    `trust` is smtpd_authorized_xclient_hosts."""

    kind: Literal["postfix"]
    inet_protocols: Literal["all", "ipv4"] = "all"

    @model_validator(mode="after")
    def _terminal(self) -> PostfixNode:
        if self.to is not None:
            raise ValueError("a postfix node delivers (discards) the mail itself: it takes no `to:`")
        return self
