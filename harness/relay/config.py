"""The relay's configuration: JSON in, a validated frozen RelayConfig out."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from harness.protocol.imap import IdField, format_id_args
from harness.protocol.table import NAMES, PROTOCOLS, ROWS, ProtocolRow
from harness.protocol.xclient import (
    Attribute,
    Flavour,
    ForwardError,
    ForwardField,
    XclientError,
    encode_forward,
    format_xclient,
)

Mode = Literal["inject", "capture", "pass", "mutate"]
MODES: tuple[Mode, ...] = get_args(Mode)
Accept = Literal["refuse", "login"]
ACCEPT: tuple[Accept, ...] = get_args(Accept)
DEFAULT_TIMEOUT = 30.0
SetValue = str | int | None | list[list[str]]
"""A ``mutate.set`` value as written: text, a number, None (NIL, IMAP only), or FORWARD's [key, value] pairs."""
_KEYS = frozenset(
    {"name", "protocol", "mode", "listen", "upstream", "id", "timeout"}
    | {"xclient", "rcpt_forward", "advertise", "accept", "xrcptforward", "mutate"}
    | {"capabilities", "greeting_capability"}
)
_MODE_KEYS = {
    "inject": ("upstream", "id", "xclient", "rcpt_forward"),
    "capture": ("advertise", "accept", "xrcptforward", "capabilities", "greeting_capability"),
    "pass": ("upstream",),
    "mutate": ("upstream", "mutate"),
}
_MUTATE_KEYS = ("drop", "drop_forward", "ttl_delta", "set")
IMAP_CAPTURE_CAPABILITIES = ("IMAP4rev1", "ID", "LITERAL+", "AUTH=PLAIN")
"""What an IMAP capture offers by default: Dovecot's proxy sends ID only to a next hop whose greeting lists ID."""


def _forwards_with_id(row: ProtocolRow) -> bool:
    return row.forwards_with == "id"


def _forwards_with_xclient(row: ProtocolRow) -> bool:
    return row.forwards_with == "xclient"


def _has_rcpt_forward(row: ProtocolRow) -> bool:
    return row.rcpt_forward


_PROTOCOLS_OF: dict[str, Callable[[ProtocolRow], bool]] = {
    "id": _forwards_with_id,
    "xclient": _forwards_with_xclient,
    "rcpt_forward": _has_rcpt_forward,
    "advertise": _forwards_with_xclient,
    "accept": _forwards_with_xclient,
    "xrcptforward": _has_rcpt_forward,
    "capabilities": _forwards_with_id,
    "greeting_capability": _forwards_with_id,
}
"""The keys only some protocols take: which, by their table row."""


class ConfigError(ValueError):
    """The configuration is unusable; the message says which field and why."""


@dataclass(frozen=True)
class Endpoint:
    """A host and TCP port."""

    host: str
    port: int


@dataclass(frozen=True)
class Mutation:
    """mutate: how the hop damages the forwarding command on its way upstream.

    The field names are those of the JSON config and of a scenario's ``mutate:``, so the scenario
    model validates straight into this class. Names compare case-insensitively. IMAP: ID keys; the
    others: XCLIENT attributes, FORWARD fields and (LMTP) the fields of ``RCPT ... XRCPTFORWARD=``.
    """

    drop: tuple[str, ...] = ()
    """Keys (IMAP) or XCLIENT attributes removed from the forwarding command."""
    drop_forward: tuple[str, ...] = ()
    """Forwarded fields removed: IMAP ``x-forward-<name>`` keys, else the fields of FORWARD (and XRCPTFORWARD)."""
    ttl_delta: int = 0
    """Added to the TTL passed on (``x-proxy-ttl``, ``TTL=``)."""
    set: dict[str, SetValue] = field(default_factory=dict)
    """Keys or attributes replaced or appended, values as written: FORWARD may be a list of [key, value] pairs,
    None means NIL (IMAP only), a number is its decimal text. The JSON config writes numbers as text."""

    def set_fields(self, protocol: str) -> tuple[IdField, ...]:
        """``set`` as the rewriters of ``protocol`` take it: (name, value) pairs, FORWARD encoded as base64,
        None only for ID. ConfigError says which value the protocol cannot send."""
        row = _row(protocol)
        if _forwards_with_id(row):
            return _id_fields([[key, _as_text(value)] for key, value in self.set.items()], "mutate.set")
        return _set_attributes(self.set, _flavour(row))

    def to_config(self) -> dict[str, object]:
        """The ``mutate`` object of the JSON config (what :func:`parse_config` reads back): defaults left out."""
        config: dict[str, object] = {}
        if self.drop:
            config["drop"] = list(self.drop)
        if self.drop_forward:
            config["drop_forward"] = list(self.drop_forward)
        if self.ttl_delta:
            config["ttl_delta"] = self.ttl_delta
        if self.set:
            config["set"] = {name: _as_text(value) for name, value in self.set.items()}
        return config


@dataclass(frozen=True)
class RelayConfig:
    """Everything one relay process needs."""

    name: str
    protocol: str
    mode: str
    listen: Endpoint
    upstream: Endpoint | None = None
    id: tuple[IdField, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    xclient: tuple[Attribute, ...] = ()
    """inject (the XCLIENT protocols): XCLIENT attributes with unencoded values, in order."""
    rcpt_forward: tuple[ForwardField, ...] = ()
    """inject (``rcpt_forward`` protocols: LMTP): fields added as ``XRCPTFORWARD=`` to every RCPT the client sends."""
    advertise: tuple[str, ...] = ()
    """capture: the XCLIENT attributes offered (pop3: non-empty means ``+OK [XCLIENT]``)."""
    accept: str = "refuse"
    """capture: ``refuse`` or ``login`` (accept) USER/PASS and AUTH."""
    xrcptforward: bool = True
    """capture (lmtp): whether LHLO offers XRCPTFORWARD."""
    capabilities: tuple[str, ...] = IMAP_CAPTURE_CAPABILITIES
    """capture (imap): the CAPABILITY list, in the greeting and in the reply to CAPABILITY."""
    greeting_capability: bool = True
    """capture (imap): whether the greeting carries ``[CAPABILITY ...]`` (without it a proxy must ask)."""
    mutate: Mutation | None = None
    """mutate: what to change in the forwarding commands passing upstream."""

    @property
    def row(self) -> ProtocolRow:
        """The protocol table's row of ``protocol``."""
        return PROTOCOLS[self.protocol]


def load_config(text: str, protocols: Collection[str] = NAMES) -> RelayConfig:
    """Parse and validate a JSON config; ``protocols`` are the ones this relay speaks."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"not valid JSON: {err}") from None
    return parse_config(raw, protocols)


def parse_config(raw: object, protocols: Collection[str] = NAMES) -> RelayConfig:
    """Validate an already-decoded config object."""
    if not isinstance(raw, dict):
        raise ConfigError("config must be a JSON object")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(unknown)}")
    protocol = _choice(raw, "protocol", sorted(protocols))
    row = _row(protocol)
    mode = _choice(raw, "mode", MODES)
    _reject_misplaced(raw, row, mode)
    return RelayConfig(
        name=_name(raw.get("name")),
        protocol=protocol,
        mode=mode,
        listen=_endpoint(raw.get("listen"), "listen", allow_zero=True),
        timeout=_timeout(raw.get("timeout", DEFAULT_TIMEOUT)),
        **_MODE_FIELDS[mode](raw, row),
    )


def _row(protocol: str) -> ProtocolRow:
    try:
        return PROTOCOLS[protocol]
    except KeyError:
        raise ConfigError(f"protocol must be one of {', '.join(NAMES)}, not {protocol!r}") from None


def _inject_fields(raw: dict[str, Any], row: ProtocolRow) -> dict[str, Any]:
    fields: dict[str, Any] = {"upstream": _upstream(raw, "inject")}
    if _forwards_with_id(row):
        fields["id"] = _id_fields(raw.get("id", []))
    if _forwards_with_xclient(row):
        fields["xclient"] = _xclient(raw.get("xclient"), _flavour(row))
    if "rcpt_forward" in raw:
        fields["rcpt_forward"] = _forward_fields(raw["rcpt_forward"], "rcpt_forward")
    return fields


def _capture_fields(raw: dict[str, Any], row: ProtocolRow) -> dict[str, Any]:
    if _forwards_with_id(row):
        return {
            "capabilities": _capabilities(raw.get("capabilities", list(IMAP_CAPTURE_CAPABILITIES))),
            "greeting_capability": _bool(raw.get("greeting_capability", True), "greeting_capability"),
        }
    if not _forwards_with_xclient(row):
        return {}
    return {
        "advertise": _advertise(raw.get("advertise", list(row.capture_advertise))),
        "accept": _choice(raw, "accept", ACCEPT) if "accept" in raw else "refuse",
        "xrcptforward": _bool(raw.get("xrcptforward", True), "xrcptforward"),
    }


def _pass_fields(raw: dict[str, Any], _protocol: ProtocolRow) -> dict[str, Any]:
    return {"upstream": _upstream(raw, "pass")}


def _mutate_fields(raw: dict[str, Any], row: ProtocolRow) -> dict[str, Any]:
    if "mutate" not in raw:
        raise ConfigError("mutate is required in mutate mode")
    return {"upstream": _upstream(raw, "mutate"), "mutate": _mutation(raw["mutate"], row)}


_MODE_FIELDS = {"inject": _inject_fields, "capture": _capture_fields, "pass": _pass_fields, "mutate": _mutate_fields}


def _upstream(raw: dict[str, Any], mode: str) -> Endpoint:
    if "upstream" not in raw:
        raise ConfigError(f"upstream is required in {mode} mode")
    return _endpoint(raw["upstream"], "upstream", allow_zero=False)


def _name(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError("name must be a non-empty string")
    return value


def _choice(raw: dict[str, Any], key: str, allowed: Collection[str]) -> str:
    value = raw.get(key)
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _reject_misplaced(raw: dict[str, Any], row: ProtocolRow, mode: str) -> None:
    for key in sorted(raw):
        modes = [each for each, keys in _MODE_KEYS.items() if key in keys]
        if modes and mode not in modes:
            raise ConfigError(f"{key} is only valid in {_either(modes)} mode, not {mode}")
    for key, takes in _PROTOCOLS_OF.items():
        if key in raw and not takes(row):
            allowed = [each.name for each in ROWS if takes(each)]
            raise ConfigError(f"{key} is only valid for protocol {' or '.join(allowed)}, not {row.name}")


def _flavour(row: ProtocolRow) -> Flavour:
    if row.xclient_flavour is None:
        raise ConfigError(f"protocol {row.name} does not forward with XCLIENT")
    return row.xclient_flavour


def _endpoint(value: object, key: str, *, allow_zero: bool) -> Endpoint:
    if not isinstance(value, dict) or set(value) != {"host", "port"}:
        raise ConfigError(f"{key} must be an object with exactly host and port")
    host, port = value["host"], value["port"]
    if not isinstance(host, str) or not host:
        raise ConfigError(f"{key}.host must be a non-empty string")
    lowest = 0 if allow_zero else 1
    if isinstance(port, bool) or not isinstance(port, int) or not lowest <= port <= 65535:
        raise ConfigError(f"{key}.port must be an integer {lowest}..65535, not {port!r}")
    return Endpoint(host, port)


def _id_fields(value: object, where: str = "id") -> tuple[IdField, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be a list of [key, value] pairs (value null for NIL)")
    fields = tuple(_id_field(item, f"{where}[{index}]") for index, item in enumerate(value))
    try:
        format_id_args(fields)
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from None
    return fields


def _id_field(item: object, where: str) -> IdField:
    if not isinstance(item, list) or len(item) != 2:
        raise ConfigError(f"{where} must be a [key, value] pair")
    key, value = item
    if not isinstance(key, str) or not key:
        raise ConfigError(f"{where} key must be a non-empty string")
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where} ({key}) value must be a string or null")
    return (key, value)


def _xclient(value: object, flavour: Flavour) -> tuple[Attribute, ...]:
    hint = 'xclient must be a non-empty list of [NAME, value] pairs (FORWARD may give [[key, value], ...])'
    if not isinstance(value, list) or not value:
        raise ConfigError(hint)
    attributes = tuple(_xclient_attribute(item, index) for index, item in enumerate(value))
    try:
        format_xclient(attributes, flavour)
    except XclientError as err:
        raise ConfigError(f"xclient: {err}") from None
    return attributes


def _xclient_attribute(item: object, index: int) -> Attribute:
    if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str):
        raise ConfigError(f"xclient[{index}] must be a [NAME, value] pair")
    name, value = item
    if name.upper() == "FORWARD" and isinstance(value, list):
        try:
            return (name, encode_forward(_forward_fields(value, f"xclient[{index}] FORWARD")))
        except ForwardError as err:
            raise ConfigError(f"xclient[{index}] FORWARD: {err}") from None
    if not isinstance(value, str):
        raise ConfigError(f"xclient[{index}] ({name}) value must be a string")
    return (name, value)


def _forward_fields(value: object, key: str) -> tuple[ForwardField, ...]:
    if not isinstance(value, list) or not all(
        isinstance(item, list) and len(item) == 2 and all(isinstance(part, str) for part in item) for item in value
    ):
        raise ConfigError(f"{key} must be a list of [key, value] string pairs")
    fields = tuple((key_, value_) for key_, value_ in value)
    try:
        encode_forward(fields)
    except ForwardError as err:
        raise ConfigError(f"{key}: {err}") from None
    return fields


def _mutation(value: object, row: ProtocolRow) -> Mutation:
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"mutate must be an object with any of {', '.join(_MUTATE_KEYS)}")
    unknown = sorted(set(value) - set(_MUTATE_KEYS))
    if unknown:
        raise ConfigError(f"unknown mutate key(s): {', '.join(unknown)}")
    ttl_delta = value.get("ttl_delta", 0)
    if isinstance(ttl_delta, bool) or not isinstance(ttl_delta, int):
        raise ConfigError(f"mutate.ttl_delta must be an integer, not {ttl_delta!r}")
    mutation = Mutation(
        drop=_names(value.get("drop", []), "mutate.drop"),
        drop_forward=_names(value.get("drop_forward", []), "mutate.drop_forward"),
        ttl_delta=ttl_delta,
        set=_set_values(value.get("set", {})),
    )
    mutation.set_fields(row.name)  # refuses at start what the rewriter could not send
    return mutation


def _names(value: object, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(name, str) and name for name in value):
        raise ConfigError(f"{key} must be a list of non-empty strings")
    return tuple(value)


def _set_values(value: object) -> dict[str, SetValue]:
    """``mutate.set`` of the JSON config, whose values are text, null or lists, never numbers."""
    if not isinstance(value, dict):
        raise ConfigError("mutate.set must be an object of names and values")
    for name, item in value.items():
        if isinstance(item, (int, float)):  # bool is an int too
            raise ConfigError(f"mutate.set {name} value must be a string, not {item!r}")
    return dict(value)


def _as_text(value: object) -> object:
    """A number as its decimal text; anything else as it is."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _set_attributes(values: dict[str, SetValue], flavour: Flavour) -> tuple[Attribute, ...]:
    attributes = tuple(_set_attribute(name, _as_text(item)) for name, item in values.items())
    try:
        for attribute in attributes:
            format_xclient([attribute], flavour)
    except XclientError as err:
        raise ConfigError(f"mutate.set: {err}") from None
    return attributes


def _set_attribute(name: str, value: object) -> Attribute:
    if name.upper() == "FORWARD" and isinstance(value, list):
        try:
            return (name, encode_forward(_forward_fields(value, "mutate.set FORWARD")))
        except ForwardError as err:
            raise ConfigError(f"mutate.set FORWARD: {err}") from None
    if not isinstance(value, str):
        raise ConfigError(f"mutate.set {name} value must be a string")
    return (name, value)


def _either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _advertise(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
        isinstance(name, str) and name and name.isascii() and name.isprintable() and " " not in name
        for name in value
    ):
        raise ConfigError("advertise must be a list of XCLIENT attribute names (single words)")
    return tuple(value)


def _capabilities(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(
        isinstance(name, str) and name and name.isascii() and name.isprintable() and not set(" ()[]") & set(name)
        for name in value
    ):
        raise ConfigError("capabilities must be a non-empty list of IMAP capability names (single atoms)")
    return tuple(value)


def _bool(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, not {value!r}")
    return value


def _timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"timeout must be a positive number of seconds, not {value!r}")
    return float(value)
