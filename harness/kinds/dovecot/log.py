"""Dovecot log lines -> observation events. Pure: text in, events out."""

from __future__ import annotations

import re

from harness.observe.events import Event

_LOGIN = re.compile(r"(?P<service>[a-z0-9]+)-login: Info: (?:Login|Logged in): (?P<elements>.*)$")
_PROXIED = re.compile(
    r"(?P<service>[a-z0-9]+)-login: Info: proxy\([^)]*\): Started proxying to .*?\(\S+ secs\): (?P<elements>.*)$")
_PROXY_LOGIN_FAILED = re.compile(
    r"(?P<service>[a-z0-9]+)-login: Info: proxy\([^)]*\): Login failed: (?P<reason>.*?): (?P<elements>user=<.*)$")
# A proxy giving up on a next hop, or retrying it: 2.4.1's "Aborting due to internal error: [BUG] Invalid
# local_name!" (a PROXY header's AUTHORITY read garbled), 2.4.5's "Remote server sent invalid input: Remote server
# doesn't support IMAP4rev1 - reconnecting (attempt #1)" (a Warning per retry, then an Error without the retry).
_PROXY_FAILURE = re.compile(r"(?P<service>[a-z0-9]+)-login: (?:Error|Warning): proxy\([^)]*\): "
                            r"(?P<what>Aborting due to internal error|Remote server sent invalid input): "
                            r"(?P<reason>.*?)(?: - reconnecting \(attempt #(?P<reconnect>\d+)\))?: "
                            r"(?P<elements>user=<.*)$")
_PROXY_FAILURE_RESULTS = {"Aborting due to internal error": "internal error",
                          "Remote server sent invalid input": "invalid input"}
_ID_SENT = re.compile(r"imap-login: Info: ID sent: (?P<pairs>.*?): user=<")
_AUTH_IN = re.compile(r"auth: Debug: (?:.*?: )?client in: AUTH\t(?P<fields>.*)$")
# The passdb's answer to a login process: `client passdb out: FAIL\t1\tuser=alice\tforward_tenant=acme...`
_PASSDB_OUT = re.compile(r"auth: Debug: (?:.*?: )?client passdb out: (?P<fields>.*)$")
_USER_IN = re.compile(r"auth: Debug: (?:.*?: )?master in: USER\t(?P<fields>.*)$")
# 2.4 appends the login log elements (": user=<>, rip=...") to submission-login's debug lines.
_XCLIENT = re.compile(r"(?P<service>submission|lmtp)(?:-login)?(?:\(\d+\))?: Debug: (?:lmtp|smtp)-server: "
                      r"conn \S+ \[\d+\]: Received new command: XCLIENT (?P<args>.*?)(?:: user=<.*)?$")
# What a 2.4 hop sent: submission's relay client (Debug `... command XCLIENT: Sent: XCLIENT ...`) and 2.4.3's
# login proxies (Info `Send: XCLIENT ...`). 2.3 logs neither.
_XCLIENT_SENT = re.compile(r"(?P<service>[a-z0-9]+)(?:-login)?(?:\([^)]*\))?(?:<[^>]*><[^>]*>)?: (?:Debug|Info): "
                           r"(?:relay: smtp-client: conn \S+ \[\d+\]: command XCLIENT: Sent|Send): "
                           r"XCLIENT (?P<args>.*?)(?:: user=<.*)?$")
_TTL_DROP = re.compile(r"(?P<service>[a-z0-9]+)-login: Error: proxy\((?P<user>[^,)]*)(?:,(?P<dest>[^)]*))?\): "
                       r"Aborting due to remote server: TTL reached zero - proxies appear to be looping\?"
                       r"(?:: (?P<elements>user=<.*))?")
_SELF_LOOP = re.compile(r"(?P<service>[a-z0-9]+)-login: Error: proxy\((?P<user>[^,)]*)(?:,(?P<dest>[^)]*))?\): "
                        r"Proxying loops to itself(?:: (?P<elements>user=<.*))?")
_LMTP_DROP = re.compile(r"(?P<service>lmtp)\(\S*?\): Error: .*Proxying to <(?P<user>[^>]*)> "
                        r"(?:(?P<ttl>appears to be looping \(TTL=0\))|loops to itself)")
_DELIVERY = re.compile(r"lmtp\((?P<user>[^)]+)\)<\d+><(?P<session>[^>]*)>: Info: .*saved mail to (?P<mailbox>\S+)")
# A PROXY header refused by a haproxy = yes listener, e.g. `imap-login: Warning: haproxy: Client not trusted
# (rip=10.0.0.10)`: the sender is outside haproxy_trusted_networks (the same line in 2.3, 2.4.1 and 2.4.5).
_PROXY_HEADER = re.compile(r"(?P<service>[a-z0-9]+)-login: (?P<level>Warning|Error|Info): "
                           r"haproxy(?:\((?P<version>[^)]*)\))?: (?P<reason>.*?)(?: \(rip=(?P<rip>[^)]*)\))?"
                           r"(?:: (?P<elements>user=<.*))?$")
_RETRY = re.compile(r" - reconnecting \(attempt #\d+\)")
_ELEMENT = re.compile(r"(?P<key>[\w-]+)=(?:<(?P<bracketed>[^>]*)>|(?P<plain>[^,]*))(?:, |,?$)")


def parse_elements(text: str) -> dict[str, str]:
    """`user=<alice>, rip=1.2.3.4, secured` -> {user: alice, rip: 1.2.3.4}; bare words are left out."""
    fields = {}
    for match in _ELEMENT.finditer(text):
        value = match.group("bracketed")
        fields[match.group("key")] = value if value is not None else match.group("plain").strip()
    return fields


def parse_auth_fields(text: str, skip: int = 2) -> dict[str, str]:
    """Tab-separated auth protocol arguments after the first `skip` ones: key=value (or bare flags).
    2.3 names the service `service=`, 2.4 `protocol=`: both are given as `service`."""
    fields = {}
    for part in text.split("\t")[skip:]:
        key, sep, value = part.partition("=")
        fields[key] = value if sep else ""
    if "protocol" in fields and "service" not in fields:
        fields["service"] = fields["protocol"]
    return fields


def parse_xclient_args(text: str) -> dict[str, str]:
    """`HELO=orig.example TTL=4 ADDR=203.0.113.9` -> {HELO: ..., TTL: ..., ADDR: ...}, names upper-cased,
    values as sent (xtext is decoded where it is well-formed)."""
    fields = {}
    for part in text.split():
        key, _, value = part.partition("=")
        fields[key.upper()] = _xtext_decode_lenient(value)
    return fields


def _xtext_decode_lenient(value: str) -> str:
    return re.sub(r"\+([0-9A-F]{2})", lambda match: chr(int(match.group(1), 16)), value)


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


def _drop_fields(match: re.Match[str], reason: str) -> dict[str, str]:
    """The proxy, the user, the destination, and the login elements (rip, session, ...) the line ends with."""
    groups = {key: value for key, value in match.groupdict().items() if value is not None and key != "elements"}
    elements = parse_elements(match.group("elements") or "")
    return {**elements, **groups, "reason": reason}


def _proxy_header_fields(match: re.Match[str]) -> dict[str, str]:
    """The service, why the header was refused (`Client not trusted`), the sender's address and any elements."""
    fields = {**parse_elements(match.group("elements") or ""), "service": match.group("service"),
              "reason": match.group("reason"), "level": match.group("level").lower()}
    if match.group("rip") is not None:
        fields["rip"] = match.group("rip")
    if match.group("version") is not None:
        fields["version"] = match.group("version")
    return fields


def events_from_log(log: str) -> tuple[Event, ...]:
    """Every login, proxy start and auth request in a Dovecot log, in order."""
    events: list[Event] = []
    for line in log.splitlines():
        if match := _LOGIN.search(line):
            fields = {**parse_elements(match.group("elements")), "service": match.group("service")}
            events.append(Event("login", fields, line))
        elif match := _PROXIED.search(line):
            fields = {**parse_elements(match.group("elements")), "service": match.group("service"), "result": "started"}
            events.append(Event("proxied", fields, line))
        elif match := _PROXY_LOGIN_FAILED.search(line):
            fields = {**parse_elements(match.group("elements")), "service": match.group("service"),
                      "result": "login failed", "reason": match.group("reason")}
            events.append(Event("proxied", fields, line))
        elif match := _PROXY_FAILURE.search(line):
            fields = {**parse_elements(match.group("elements")), "service": match.group("service"),
                      "result": _PROXY_FAILURE_RESULTS[match.group("what")], "reason": match.group("reason")}
            if match.group("reconnect") is not None:
                fields["reconnect"] = match.group("reconnect")
            events.append(Event("proxied", fields, line))
        elif match := _XCLIENT.search(line):
            fields = {**parse_xclient_args(match.group("args")), "service": match.group("service")}
            events.append(Event("xclient", fields, line))
        elif match := _XCLIENT_SENT.search(line):
            fields = {**parse_xclient_args(match.group("args")), "service": match.group("service")}
            events.append(Event("xclient_sent", fields, line))
        elif match := _TTL_DROP.search(line):
            events.append(Event("drop", _drop_fields(match, "ttl"), line))
        elif match := _SELF_LOOP.search(line):
            events.append(Event("drop", _drop_fields(match, "self-loop"), line))
        elif match := _LMTP_DROP.search(line):
            fields = {"service": "lmtp", "user": match.group("user"),
                      "reason": "ttl" if match.group("ttl") else "self-loop"}
            events.append(Event("drop", fields, line))
        elif match := _PROXY_HEADER.search(line):
            events.append(Event("proxy_header", _proxy_header_fields(match), line))
        elif match := _DELIVERY.search(line):
            events.append(Event("delivery", match.groupdict(), line))
        elif match := _USER_IN.search(line):
            fields = {"user": match.group("fields").split("\t")[1], **parse_auth_fields(match.group("fields"))}
            events.append(Event("auth", fields, line))
            events.append(Event("forward", parse_forward_fields(fields.get("forward_fields", "")), line))
        elif match := _PASSDB_OUT.search(line):
            answer = match.group("fields").rstrip("\t")
            fields = {"result": answer.split("\t")[0], **parse_auth_fields(answer)}
            events.append(Event("passdb", fields, line))
        elif match := _ID_SENT.search(line):
            fields = parse_id_log(match.group("pairs"))
            events.append(Event("id", fields, line))
            if "x-proxy-ttl" in fields:
                events.append(Event("ttl", {"ttl": fields["x-proxy-ttl"]}, line))
        elif match := _AUTH_IN.search(line):
            fields = parse_auth_fields(match.group("fields"))
            events.append(Event("auth", fields, line))
            events.append(Event("forward", parse_forward_fields(fields.get("forward_fields", "")), line))
    return tuple(events)


def proxies_retry(log: str) -> bool:
    """Whether a proxy retried a next hop (2.4: `... - reconnecting (attempt #N)`): the proxies further along a
    chain may go on retrying after the client has its answer, so more lines can come."""
    return _RETRY.search(log) is not None
