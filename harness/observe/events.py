"""What nodes and clients were seen to receive and log: plain values handed from `observe` to `expect`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    """One observed thing: a login line, an auth request, an ID received, ... with its fields."""

    kind: str
    fields: Mapping[str, str]
    line: str = ""


@dataclass(frozen=True)
class NodeObservation:
    node: str
    description: str
    events: tuple[Event, ...] = ()
    log: str = ""
    kind_is_server: bool = True
    """False for relay hops: their logs are the harness's own, not a server's."""

    def of_kind(self, kind: str) -> list[Event]:
        return [event for event in self.events if event.kind == kind]


@dataclass(frozen=True)
class ClientTranscript:
    """One client session: the lines exchanged, and the status/text of each tagged reply by step name."""

    session: int
    to: str
    lines: tuple[str, ...] = ()
    replies: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
