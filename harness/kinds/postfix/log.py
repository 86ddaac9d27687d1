"""Postfix log lines -> observation events. Pure: text in, events out."""

from __future__ import annotations

import re

from harness.observe.events import Event

_CLIENT = r"(?P<name>[^\[\s]+)\[(?P<addr>[^\]]+)\](?::(?P<port>\d+))?"
_CONNECT = re.compile(rf"postfix/\w+\[\d+\]: connect from {_CLIENT}$")
_QUEUED = re.compile(rf"postfix/\w+\[\d+\]: (?P<queue_id>\w+): client={_CLIENT}(?P<rest>.*)$")
_DISCONNECT = re.compile(rf"postfix/\w+\[\d+\]: disconnect from {_CLIENT} (?P<counters>.*)$")
_WARN = re.compile(rf"postfix/\w+\[\d+\]: (?P<queue_id>\w+): warn: RCPT from {_CLIENT}: (?P<rest>.*)$")
_REJECT = re.compile(
    rf"postfix/\w+\[\d+\]: (?P<queue_id>\w+): reject: RCPT from {_CLIENT}: (?P<code>\d{{3}}) (?P<rest>.*)$")
_QUEUED_MAIL = re.compile(r"postfix/(?:cleanup|qmgr)\[\d+\]: (?P<queue_id>\w+): (?:message-id=|from=)")
_REMOVED = re.compile(r"postfix/qmgr\[\d+\]: (?P<queue_id>\w+): removed$", re.MULTILINE)
_ENVELOPE = re.compile(r"(?P<key>\w+)=<?(?P<value>[^>;\s]*)>?")


def _client(match: re.Match[str]) -> dict[str, str]:
    fields = {"name": match.group("name"), "addr": match.group("addr")}
    if match.group("port"):
        fields["port"] = match.group("port")
    return fields


def events_from_log(log: str) -> tuple[Event, ...]:
    """Connections, queued mail (`client=`), recipients (WARN lines), rejects and disconnects, in order."""
    events: list[Event] = []
    for line in log.splitlines():
        if match := _CONNECT.search(line):
            events.append(Event("connect", _client(match), line))
        elif match := _QUEUED.search(line):
            fields = {**_client(match), "queue_id": match.group("queue_id")}
            for part in match.group("rest").split(", ")[1:]:
                key, _, value = part.partition("=")
                fields[key] = value
            events.append(Event("client", fields, line))
        elif match := _WARN.search(line):
            fields = {**_client(match), **{m.group("key"): m.group("value") for m in _ENVELOPE.finditer(
                match.group("rest"))}}
            events.append(Event("recipient", fields, line))
        elif match := _REJECT.search(line):
            events.append(Event("reject", {**_client(match), "code": match.group("code"),
                                           "text": match.group("rest")}, line))
        elif match := _DISCONNECT.search(line):
            fields = _client(match)
            for part in match.group("counters").split():
                key, _, value = part.partition("=")
                fields[key] = value
            events.append(Event("disconnect", fields, line))
    return tuple(events)


def mail_in_queue(log: str) -> bool:
    """Whether a mail that entered the queue (cleanup's `message-id=`, qmgr's `from=`) has not been `removed`
    yet: its delivery lines are still to come."""
    queued = {match.group("queue_id") for match in _QUEUED_MAIL.finditer(log)}
    return bool(queued - {match.group("queue_id") for match in _REMOVED.finditer(log)})
