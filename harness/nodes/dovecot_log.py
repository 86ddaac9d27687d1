"""Dovecot log lines -> observation events. Pure: text in, events out."""

from __future__ import annotations

import re

from harness.observations import Event

_LOGIN = re.compile(r"-login: Info: (?:Login|Logged in): (?P<elements>.*)$")
_PROXIED = re.compile(r"-login: Info: proxy\([^)]*\): Started proxying to .*?\(\S+ secs\): (?P<elements>.*)$")
_ID_SENT = re.compile(r"imap-login: Info: ID sent: (?P<pairs>.*?): user=<")
_AUTH_IN = re.compile(r"auth: Debug: (?:.*?: )?client in: AUTH\t(?P<fields>.*)$")
_ELEMENT = re.compile(r"(?P<key>[\w-]+)=(?:<(?P<bracketed>[^>]*)>|(?P<plain>[^,]*))(?:, |,?$)")


def parse_elements(text: str) -> dict[str, str]:
    """`user=<alice>, rip=1.2.3.4, secured` -> {user: alice, rip: 1.2.3.4}; bare words are left out."""
    fields = {}
    for match in _ELEMENT.finditer(text):
        value = match.group("bracketed")
        fields[match.group("key")] = value if value is not None else match.group("plain").strip()
    return fields


def parse_auth_fields(text: str) -> dict[str, str]:
    """The tab-separated `client in: AUTH` arguments: id, mechanism, then key=value (or bare flags)."""
    fields = {}
    for part in text.split("\t")[2:]:
        key, sep, value = part.partition("=")
        fields[key] = value if sep else ""
    return fields


def parse_forward_fields(value: str) -> dict[str, str]:
    """`forward_fields`: tab-joined k=v items, tab-escaped (\\001t = TAB) as Dovecot's auth protocol writes them."""
    fields = {}
    for item in value.split("\x01t"):
        if not item:
            continue
        key, _, val = _tab_unescape(item).partition("=")
        fields[key] = val
    return fields


def parse_id_log(text: str) -> dict[str, str]:
    """2.3's `imap_id_log` pairs: `x-originating-ip=203.0.113.7, x-proxy-ttl=4` (values cut at 80 chars)."""
    fields = {}
    for pair in text.split(", "):
        key, _, value = pair.partition("=")
        fields[key] = value
    return fields


def _tab_unescape(text: str) -> str:
    replacements = {"\x011": "\x01", "\x01r": "\r", "\x01n": "\n", "\x010": "\x00"}
    for escaped, plain in replacements.items():
        text = text.replace(escaped, plain)
    return text


def events_from_log(log: str) -> tuple[Event, ...]:
    """Every login, proxy start and auth request in a Dovecot log, in order."""
    events: list[Event] = []
    for line in log.splitlines():
        if match := _LOGIN.search(line):
            events.append(Event("login", parse_elements(match.group("elements")), line))
        elif match := _PROXIED.search(line):
            events.append(Event("proxied", parse_elements(match.group("elements")), line))
        elif match := _ID_SENT.search(line):
            events.append(Event("id", parse_id_log(match.group("pairs")), line))
        elif match := _AUTH_IN.search(line):
            fields = parse_auth_fields(match.group("fields"))
            events.append(Event("auth", fields, line))
            events.append(Event("forward", parse_forward_fields(fields.get("forward_fields", "")), line))
    return tuple(events)
