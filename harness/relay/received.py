"""The ``received`` event: what the relay records about each line a client sends.

Capture mode and the hops that pass a stream on (``pass``, ``mutate``) record it
alike; each protocol's ``describe`` (in :mod:`harness.relay.imap`, ``pop3``, ``smtp``)
is the one place that says what it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from harness.relay.server import Session

CommandT = TypeVar("CommandT")


@dataclass(frozen=True)
class Received(Generic[CommandT]):
    """One client line as parsed and described.

    ``command``: the parsed command, None when the line does not parse or answers the
    server. ``head`` (tag, command) goes before ``pipelined`` in the event, ``detail``
    after it.
    """

    command: CommandT | None
    head: dict[str, object]
    detail: dict[str, object] = field(default_factory=dict)

    def record(self, session: Session, line: str, pipelined: bool, **extra: object) -> dict[str, object]:
        """Emit the event for ``line``, ``extra`` last; return its fields."""
        fields = {"peer": session.peer, "line": line, **self.head, "pipelined": pipelined, **self.detail, **extra}
        session.emit("received", **fields)
        return fields


def continuation(*, tagged: bool = False) -> Received[Any]:
    """A line that answers the server (a SASL response, IMAP's DONE), not a command.

    ``tagged``: the protocol's commands have tags (IMAP), so the event says ``tag`` too.
    """
    head: dict[str, object] = {"tag": None, "command": None} if tagged else {"command": None}
    return Received(None, head, {"continuation": True})
