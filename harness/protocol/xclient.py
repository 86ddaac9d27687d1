"""XCLIENT for POP3 (Dovecot) and SMTP/LMTP (Dovecot, Postfix), and the forward-field payloads.

Pure code: no sockets, no I/O. Two value encodings ("flavours") exist on the wire:

- ``pop3``: Dovecot's pop3-login splits the line on spaces and takes every value raw
  (``src/pop3-login/client.c cmd_xclient``), so ``FORWARD=`` is plain base64.
- ``smtp``: submission, LMTP and Postfix xtext-decode every value
  (``src/lib-smtp/smtp-server-cmd-xclient.c``, postfix ``smtpd.c xclient_cmd``),
  so ``FORWARD=`` is xtext(base64) and ``=`` travels as ``+3D``.

Forward fields are always the same inner payload: ``k=v`` items, each tab-escaped
(``lib/strescape.c``), joined by TAB. POP3 and submission wrap it in base64; LMTP's
RCPT parameter ``XRCPTFORWARD=`` is xtext of it, without base64.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from harness.protocol.smtp import SmtpParseError, parse_command, parse_path_args
from harness.protocol.wire import ENCODING, decode, encode
from harness.protocol.xtext import XtextError, xtext_decode, xtext_encode

Flavour = Literal["pop3", "smtp"]
POP3: Flavour = "pop3"
SMTP: Flavour = "smtp"
FLAVOURS: tuple[Flavour, ...] = (POP3, SMTP)

ForwardField = tuple[str, str]
Attribute = tuple[str, str]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Ipv6Prefix = Literal["optional", "required", "forbidden"]

VERB = "XCLIENT"
UNAVAILABLE = "[UNAVAILABLE]"
TEMPUNAVAIL = "[TEMPUNAVAIL]"
IPV6_PREFIX = "IPV6:"
POSTFIX_MAX_VALUE_LENGTH = 255

POP3_ATTRIBUTES = ("ADDR", "PORT", "SESSION", "TTL", "FORWARD", "CLIENT-TRANSPORT", "DESTNAME", "DESTADDR", "DESTPORT")
"""Every attribute some Dovecot pop3-login understands (CLIENT-TRANSPORT, DESTNAME: 2.4; DESTADDR, DESTPORT: 2.4.3)."""
SMTP_ATTRIBUTES = (
    *("ADDR", "PORT", "SESSION", "HELO", "LOGIN", "TIMEOUT", "TTL", "PROTO", "FORWARD"),
    *("NAME", "DESTADDR", "DESTPORT", "REVERSE_NAME", "CLIENT-TRANSPORT", "DESTNAME"),
)
"""Every attribute Dovecot's SMTP/LMTP servers or Postfix smtpd understand."""
KNOWN_ATTRIBUTES: dict[Flavour, tuple[str, ...]] = {POP3: POP3_ATTRIBUTES, SMTP: SMTP_ATTRIBUTES}

# What servers advertise in ``250-XCLIENT ...`` (observed-findings.md E6, E7).
DOVECOT23_LMTP_ADVERTISED = ("ADDR", "PORT", "PROTO", "HELO", "LOGIN", "SESSION", "TTL", "TIMEOUT")
DOVECOT24_LMTP_ADVERTISED = (
    *("ADDR", "PORT", "PROTO", "HELO", "LOGIN", "SESSION"),
    *("CLIENT-TRANSPORT", "TTL", "TIMEOUT", "DESTNAME"),
)
DOVECOT23_SUBMISSION_ADVERTISED = (*DOVECOT23_LMTP_ADVERTISED, "FORWARD")
DOVECOT24_SUBMISSION_ADVERTISED = (*DOVECOT24_LMTP_ADVERTISED, "FORWARD")
POSTFIX_ADVERTISED = ("NAME", "ADDR", "PROTO", "HELO", "REVERSE_NAME", "PORT", "LOGIN", "DESTADDR", "DESTPORT")

_LINE_BREAKS = {"\r": "CR", "\n": "LF", "\x00": "NUL"}
_POP3_UNSENDABLE = {" ": "SP", **_LINE_BREAKS}
_TAB_ESCAPES = {"\x00": "0", "\x01": "1", "\t": "t", "\r": "r", "\n": "n"}
_TAB_UNESCAPES = {code: char for char, code in _TAB_ESCAPES.items()}
_ESCAPE = "\x01"
_NUMBER_RE = re.compile(r"-?[0-9]+\Z")


class XclientError(ValueError):
    """An XCLIENT line, attribute or value is malformed."""


class ForwardError(ValueError):
    """A forward-field payload is malformed (bad base64, xtext or item)."""


def flavour_for(protocol: str) -> Flavour:
    """The XCLIENT value encoding a relay protocol uses: ``pop3``, else ``smtp``."""
    return POP3 if protocol == "pop3" else SMTP


# --- Dovecot tab escaping --------------------------------------------------------


def tab_escape(text: str) -> str:
    """``str_tabescape``: \\001, TAB, CR, LF (and NUL, as ``str_append_tabescaped_n``) as \\001 + code."""
    return "".join(_ESCAPE + _TAB_ESCAPES[char] if char in _TAB_ESCAPES else char for char in text)


def tab_unescape(text: str) -> str:
    """``str_tabunescape``, including its leniency.

    An unknown escape ``\\001x`` gives ``x`` and a lone trailing \\001 is dropped,
    as Dovecot does, so this decodes what Dovecot would understand.
    """
    out: list[str] = []
    pos = 0
    while True:
        found = text.find(_ESCAPE, pos)
        if found < 0:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos:found])
        code = text[found + 1 : found + 2]
        out.append(_TAB_UNESCAPES.get(code, code))
        pos = found + 2


# --- forward fields ----------------------------------------------------------------


def join_forward(fields: Iterable[ForwardField]) -> str:
    """The inner payload: tab-escaped ``k=v`` items joined by TAB.

    ForwardError for an empty key or one holding ``=`` (the receiver splits at the first ``=``).
    """
    items: list[str] = []
    for key, value in fields:
        if not key or "=" in key:
            raise ForwardError(f"forward key must be non-empty and without '=': {key!r}")
        items.append(tab_escape(f"{key}={value}"))
    return "\t".join(items)


def split_forward(payload: str) -> list[ForwardField]:
    """The inverse of :func:`join_forward`; ForwardError for an item without ``key=``."""
    if not payload:
        return []
    fields: list[ForwardField] = []
    for item in payload.split("\t"):
        key, equals, value = tab_unescape(item).partition("=")
        if not equals or not key:
            raise ForwardError(f"forward item is not key=value: {item!r}")
        fields.append((key, value))
    return fields


def encode_forward(fields: Sequence[ForwardField]) -> str:
    """The ``FORWARD=`` value before any xtext: base64 of the payload (POP3 sends it as is)."""
    payload = join_forward(fields)
    try:
        data = encode(payload)
    except UnicodeEncodeError as err:
        raise ForwardError(f"forward fields cannot be encoded as {ENCODING}: {err}") from None
    return base64.b64encode(data).decode("ascii")


def decode_forward(value: str) -> list[ForwardField]:
    """Fields from a base64 ``FORWARD=`` value (already xtext-decoded for SMTP)."""
    try:
        payload = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as err:
        raise ForwardError(f"FORWARD value is not base64: {value!r} ({err})") from None
    return split_forward(decode(payload))


def encode_rcpt_forward(fields: Sequence[ForwardField]) -> str:
    """The LMTP ``XRCPTFORWARD=`` value: xtext of the payload (no base64)."""
    try:
        return xtext_encode(join_forward(fields))
    except XtextError as err:
        raise ForwardError(f"XRCPTFORWARD value: {err}") from None


def decode_rcpt_forward(value: str) -> list[ForwardField]:
    """Fields from an LMTP ``XRCPTFORWARD=`` value."""
    try:
        return split_forward(xtext_decode(value))
    except XtextError as err:
        raise ForwardError(f"XRCPTFORWARD value: {err}") from None


# --- addresses -----------------------------------------------------------------------


def is_unavailable(value: str) -> bool:
    """Whether ``value`` is ``[UNAVAILABLE]`` or ``[TEMPUNAVAIL]``, in any case."""
    return value.upper() in (UNAVAILABLE, TEMPUNAVAIL)


def parse_address(value: str, *, ipv6_prefix: Ipv6Prefix = "optional") -> IPAddress | None:
    """An ``ADDR``/``DESTADDR`` value as an address; None for ``[UNAVAILABLE]``/``[TEMPUNAVAIL]``.

    ``ipv6_prefix``: ``optional`` is Dovecot's SMTP/LMTP server (``IPV6:`` in any case
    or bare); ``required`` is Postfix (a bare IPv6 address is "Bad ADDR syntax");
    ``forbidden`` is Dovecot's POP3 (``net_addr2ip`` only).
    """
    if is_unavailable(value):
        return None
    prefixed = value[: len(IPV6_PREFIX)].upper() == IPV6_PREFIX
    text = value[len(IPV6_PREFIX) :] if prefixed else value
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise XclientError(f"not an IP address: {value!r}") from None
    if prefixed and (ipv6_prefix == "forbidden" or address.version != 6):
        raise XclientError(f"unexpected {IPV6_PREFIX} prefix: {value!r}")
    if ipv6_prefix == "required" and address.version == 6 and not prefixed:
        raise XclientError(f"IPv6 address without the {IPV6_PREFIX} prefix: {value!r}")
    return address


def format_address(address: str | IPAddress, *, ipv6_prefix: bool) -> str:
    """An address as an XCLIENT value, normalised; IPv6 gets ``IPV6:`` if asked (Postfix needs it)."""
    parsed = ipaddress.ip_address(address)
    return f"{IPV6_PREFIX}{parsed}" if ipv6_prefix and parsed.version == 6 else str(parsed)


def _parse_number(name: str, value: str, highest: int | None) -> int | None:
    if is_unavailable(value):
        return None
    if not value.isascii() or not value.isdigit() or (highest is not None and int(value) > highest):
        raise XclientError(f"{name} is not a number{'' if highest is None else f' 0..{highest}'}: {value!r}")
    return int(value)


# --- XCLIENT --------------------------------------------------------------------------


@dataclass(frozen=True)
class XclientCommand:
    """An XCLIENT command: attribute names (upper-cased) and decoded values, in order.

    Repeated attributes are kept; the accessors use the last one, as servers apply
    them in order.
    """

    attributes: tuple[Attribute, ...]

    def __post_init__(self) -> None:
        normalised = tuple((name.upper(), value) for name, value in self.attributes)
        object.__setattr__(self, "attributes", normalised)

    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.attributes)

    def get(self, name: str) -> str | None:
        """The value of the last ``name`` attribute, or None."""
        wanted = name.upper()
        found = [value for key, value in self.attributes if key == wanted]
        return found[-1] if found else None

    def unknown(self, flavour: Flavour) -> tuple[str, ...]:
        """Names no server of this flavour understands (kept, not an error)."""
        return tuple(name for name in self.names() if name not in KNOWN_ATTRIBUTES[flavour])

    def address(self, name: str = "ADDR") -> IPAddress | None:
        value = self.get(name)
        return None if value is None else parse_address(value)

    def number(self, name: str, highest: int | None = None) -> int | None:
        value = self.get(name)
        return None if value is None else _parse_number(name, value, highest)

    @property
    def addr(self) -> IPAddress | None:
        return self.address("ADDR")

    @property
    def destaddr(self) -> IPAddress | None:
        return self.address("DESTADDR")

    @property
    def port(self) -> int | None:
        return self.number("PORT", 65535)

    @property
    def destport(self) -> int | None:
        return self.number("DESTPORT", 65535)

    @property
    def ttl(self) -> int | None:
        return self.number("TTL")

    @property
    def timeout(self) -> int | None:
        return self.number("TIMEOUT")

    @property
    def forward(self) -> list[ForwardField] | None:
        value = self.get("FORWARD")
        return None if value is None else decode_forward(value)

    def format(self, flavour: Flavour) -> str:
        return format_xclient(self.attributes, flavour)


def encode_value(value: str, flavour: Flavour) -> str:
    """One value as it goes on the wire; XclientError if the flavour cannot carry it."""
    _check_chars(value, _LINE_BREAKS, "value")
    if flavour == SMTP:
        try:
            return xtext_encode(value)
        except XtextError as err:
            raise XclientError(str(err)) from None
    _check_chars(value, _POP3_UNSENDABLE, "POP3 value")
    try:
        encode(value)
    except UnicodeEncodeError as err:
        raise XclientError(f"value cannot be encoded as {ENCODING}: {err}") from None
    return value


def decode_value(raw: str, flavour: Flavour) -> str:
    """One wire value decoded; XclientError for bad xtext or a value holding CR, LF or NUL."""
    if flavour == POP3:
        value = raw
    else:
        try:
            value = xtext_decode(raw)
        except XtextError as err:
            raise XclientError(str(err)) from None
    _check_chars(value, _LINE_BREAKS, "decoded value")
    return value


def format_xclient(
    attributes: Iterable[Attribute],
    flavour: Flavour,
    *,
    max_value_length: int | None = None,
) -> str:
    """A whole XCLIENT line without CRLF; names are upper-cased, values encoded per flavour.

    ``max_value_length`` (e.g. POSTFIX_MAX_VALUE_LENGTH) limits each encoded value.
    """
    items: list[str] = []
    for name, value in attributes:
        _check_name(name)
        try:
            wire = encode_value(value, flavour)
        except XclientError as err:
            raise XclientError(f"XCLIENT {name}: {err}") from None
        _check_length(name, wire, max_value_length)
        items.append(f"{name.upper()}={wire}")
    if not items:
        raise XclientError("XCLIENT needs at least one attribute")
    return " ".join((VERB, *items))


def split_xclient(line: str) -> list[Attribute]:
    """The ``(name, raw value)`` pairs of an XCLIENT line, as sent (name case kept).

    Checks the structure only: the verb, no CR/LF/NUL, at least one attribute, each
    ``name=value``. Runs of spaces count as one, as the servers' splitting skips empties.
    """
    _check_chars(line, _LINE_BREAKS, "XCLIENT line")
    verb, _, rest = line.partition(" ")
    if verb.upper() != VERB:
        raise XclientError(f"not an XCLIENT command: {line!r}")
    pairs: list[Attribute] = []
    for token in rest.split(" "):
        if not token:
            continue
        name, equals, value = token.partition("=")
        if not equals or not name:
            raise XclientError(f"attribute=value expected, got {token!r}")
        pairs.append((name, value))
    if not pairs:
        raise XclientError("XCLIENT without attributes")
    return pairs


def parse_xclient(line: str, flavour: Flavour, *, max_value_length: int | None = None) -> XclientCommand:
    """Parse a whole XCLIENT line (without CRLF) into decoded attributes.

    Unknown attribute names are kept. XclientError for anything malformed; with
    ``max_value_length`` also for a raw value longer than that (Postfix: 255).
    """
    attributes: list[Attribute] = []
    for name, raw in split_xclient(line):
        _check_length(name, raw, max_value_length)
        try:
            attributes.append((name, decode_value(raw, flavour)))
        except XclientError as err:
            raise XclientError(f"XCLIENT {name.upper()}: {err}") from None
    return XclientCommand(tuple(attributes))


def _check_name(name: str) -> None:
    if not name or not name.isascii() or not name.isprintable() or " " in name or "=" in name:
        raise XclientError(f"bad XCLIENT attribute name: {name!r}")


def _check_chars(text: str, forbidden: dict[str, str], what: str) -> None:
    for char, label in forbidden.items():
        if char in text:
            raise XclientError(f"{label} in {what}: {text!r}")


def _check_length(name: str, raw: str, limit: int | None) -> None:
    if limit is not None and len(raw) > limit:
        raise XclientError(f"XCLIENT {name.upper()} value too long ({len(raw)} > {limit})")


# --- rewriting (a faulty hop) ------------------------------------------------------------


def rewrite_xclient(
    line: str,
    flavour: Flavour,
    *,
    drop: Collection[str] = (),
    drop_forward: Collection[str] = (),
    ttl_delta: int = 0,
    set_attributes: Sequence[Attribute] = (),
) -> str:
    """An XCLIENT line (without CRLF) as a faulty hop would pass it on; names and forward
    keys compare case-insensitively, ``set_attributes`` values are unencoded.

    In this order: remove the ``drop`` attributes; remove the ``drop_forward`` fields
    from every FORWARD value (re-encoded per flavour, the attribute removed once empty);
    add ``ttl_delta`` to every numeric TTL; for each ``set_attributes`` pair replace the
    value of every attribute with that name, or append it. Untouched attributes keep
    their raw text; the line comes back unchanged, byte for byte, when nothing changed,
    and as the bare verb when no attribute is left. XclientError for a malformed line
    or a value the flavour cannot carry.
    """
    original = split_xclient(line)
    dropped = {name.upper() for name in drop}
    pairs = [(name, raw) for name, raw in original if name.upper() not in dropped]
    if drop_forward:
        pairs = [pair for pair in (_drop_forward(name, raw, drop_forward, flavour) for name, raw in pairs) if pair]
    if ttl_delta:
        pairs = [(name, _add_to_ttl(name, raw, ttl_delta, flavour)) for name, raw in pairs]
    for name, value in set_attributes:
        _check_name(name)
        pairs = _set_attribute(pairs, name, encode_value(value, flavour))
    if pairs == original:
        return line
    return " ".join((line.partition(" ")[0], *(f"{name}={raw}" for name, raw in pairs)))


def _drop_forward(name: str, raw: str, keys: Collection[str], flavour: Flavour) -> Attribute | None:
    if name.upper() != "FORWARD":
        return (name, raw)
    try:
        fields = decode_forward(decode_value(raw, flavour))
    except (XclientError, ForwardError):
        return (name, raw)  # what cannot be decoded cannot be edited
    kept = _without_keys(fields, keys)
    if kept == fields:
        return (name, raw)
    return (name, encode_value(encode_forward(kept), flavour)) if kept else None


def _without_keys(fields: list[ForwardField], keys: Collection[str]) -> list[ForwardField]:
    dropped = {key.lower() for key in keys}
    return [(key, value) for key, value in fields if key.lower() not in dropped]


def _add_to_ttl(name: str, raw: str, delta: int, flavour: Flavour) -> str:
    if name.upper() != "TTL":
        return raw
    try:
        value = decode_value(raw, flavour)
    except XclientError:
        return raw
    return encode_value(str(int(value) + delta), flavour) if _NUMBER_RE.match(value) else raw


def _set_attribute(pairs: list[Attribute], name: str, raw: str) -> list[Attribute]:
    if not any(key.upper() == name.upper() for key, _ in pairs):
        return [*pairs, (name.upper(), raw)]
    return [(key, raw if key.upper() == name.upper() else value) for key, value in pairs]


def rewrite_rcpt_forward(line: str, drop_forward: Collection[str], keyword: str = "XRCPTFORWARD") -> str:
    """A ``RCPT TO`` line (without CRLF) with the ``drop_forward`` fields (case-insensitive)
    removed from its ``keyword`` parameter, which goes once empty.

    The line comes back unchanged, byte for byte, when nothing changed; otherwise the
    parameters are rejoined by single spaces. SmtpParseError if it is no RCPT line.
    """
    command = parse_command(line)
    if command.name != "RCPT":
        raise SmtpParseError(f"not a RCPT command: {command.name}")
    path = parse_path_args(command.args, "TO:").path
    head_length = len(line) - len(command.args[len("TO:") :].lstrip(" ")) + len(path)
    tokens = [token for token in line[head_length:].split(" ") if token]
    kept = [token for token in (_drop_param_fields(t, keyword, drop_forward) for t in tokens) if token]
    return line if kept == tokens else " ".join((line[:head_length], *kept))


def _drop_param_fields(token: str, keyword: str, keys: Collection[str]) -> str | None:
    name, equals, value = token.partition("=")
    if not equals or name.upper() != keyword.upper():
        return token
    try:
        fields = decode_rcpt_forward(value)
    except ForwardError:
        return token
    kept = _without_keys(fields, keys)
    if kept == fields:
        return token
    return f"{name}={encode_rcpt_forward(kept)}" if kept else None
