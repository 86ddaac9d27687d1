"""The relay's configuration: JSON in, a validated frozen RelayConfig out."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from harness.protocol.imap import IdField, format_id_args
from harness.protocol.xclient import (
    DOVECOT24_LMTP_ADVERTISED,
    DOVECOT24_SUBMISSION_ADVERTISED,
    Attribute,
    ForwardError,
    ForwardField,
    XclientError,
    encode_forward,
    flavour_for,
    format_xclient,
)

MODES = ("inject", "capture", "pass", "mutate")
ACCEPT = ("refuse", "login")
DEFAULT_TIMEOUT = 30.0
XCLIENT_PROTOCOLS = ("pop3", "submission", "lmtp")
DEFAULT_ADVERTISE: dict[str, tuple[str, ...]] = {
    # POP3 advertises no list: only whether the greeting says [XCLIENT] (non-empty).
    "pop3": ("ADDR", "PORT", "SESSION", "TTL", "CLIENT-TRANSPORT", "DESTNAME", "FORWARD"),
    "submission": DOVECOT24_SUBMISSION_ADVERTISED,
    "lmtp": DOVECOT24_LMTP_ADVERTISED,
}
_KEYS = frozenset(
    {"name", "protocol", "mode", "listen", "upstream", "id", "timeout"}
    | {"xclient", "rcpt_forward", "advertise", "accept", "xrcptforward", "mutate"}
)
_MODE_KEYS = {
    "inject": ("upstream", "id", "xclient", "rcpt_forward"),
    "capture": ("advertise", "accept", "xrcptforward"),
    "pass": ("upstream",),
    "mutate": ("upstream", "mutate"),
}
_MUTATE_KEYS = ("drop", "drop_forward", "ttl_delta", "set")
_PROTOCOLS_OF = {
    "id": ("imap",),
    "xclient": XCLIENT_PROTOCOLS,
    "rcpt_forward": ("lmtp",),
    "advertise": XCLIENT_PROTOCOLS,
    "accept": XCLIENT_PROTOCOLS,
    "xrcptforward": ("lmtp",),
}


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

    Names compare case-insensitively. IMAP: ID keys (``drop_forward`` names the
    ``x-forward-<name>`` keys); the others: XCLIENT attributes, FORWARD fields and
    (LMTP) the fields of ``RCPT ... XRCPTFORWARD=``.
    """

    drop: tuple[str, ...] = ()
    drop_forward: tuple[str, ...] = ()
    ttl_delta: int = 0
    set_fields: tuple[IdField, ...] = ()
    """Replaced or appended, values unencoded (FORWARD given as base64); None (NIL) only for IMAP."""


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
    """inject (pop3, submission, lmtp): XCLIENT attributes with unencoded values, in order."""
    rcpt_forward: tuple[ForwardField, ...] = ()
    """inject (lmtp): fields added as ``XRCPTFORWARD=`` to every RCPT the client sends."""
    advertise: tuple[str, ...] = ()
    """capture: the XCLIENT attributes offered (pop3: non-empty means ``+OK [XCLIENT]``)."""
    accept: str = "refuse"
    """capture: ``refuse`` or ``login`` (accept) USER/PASS and AUTH."""
    xrcptforward: bool = True
    """capture (lmtp): whether LHLO offers XRCPTFORWARD."""
    mutate: Mutation | None = None
    """mutate: what to change in the forwarding commands passing upstream."""


def load_config(text: str, protocols: Collection[str]) -> RelayConfig:
    """Parse and validate a JSON config; ``protocols`` are the ones this relay speaks."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"not valid JSON: {err}") from None
    return parse_config(raw, protocols)


def parse_config(raw: object, protocols: Collection[str]) -> RelayConfig:
    """Validate an already-decoded config object."""
    if not isinstance(raw, dict):
        raise ConfigError("config must be a JSON object")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(unknown)}")
    protocol = _choice(raw, "protocol", sorted(protocols))
    mode = _choice(raw, "mode", MODES)
    _reject_misplaced(raw, protocol, mode)
    return RelayConfig(
        name=_name(raw.get("name")),
        protocol=protocol,
        mode=mode,
        listen=_endpoint(raw.get("listen"), "listen", allow_zero=True),
        timeout=_timeout(raw.get("timeout", DEFAULT_TIMEOUT)),
        **_MODE_FIELDS[mode](raw, protocol),
    )


def _inject_fields(raw: dict[str, Any], protocol: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"upstream": _upstream(raw, "inject")}
    if protocol == "imap":
        fields["id"] = _id_fields(raw.get("id", []))
    if protocol in XCLIENT_PROTOCOLS:
        fields["xclient"] = _xclient(raw.get("xclient"), protocol)
    if "rcpt_forward" in raw:
        fields["rcpt_forward"] = _forward_fields(raw["rcpt_forward"], "rcpt_forward")
    return fields


def _capture_fields(raw: dict[str, Any], protocol: str) -> dict[str, Any]:
    if protocol not in XCLIENT_PROTOCOLS:
        return {}
    return {
        "advertise": _advertise(raw.get("advertise", list(DEFAULT_ADVERTISE[protocol]))),
        "accept": _choice(raw, "accept", ACCEPT) if "accept" in raw else "refuse",
        "xrcptforward": _bool(raw.get("xrcptforward", True), "xrcptforward"),
    }


def _pass_fields(raw: dict[str, Any], _protocol: str) -> dict[str, Any]:
    return {"upstream": _upstream(raw, "pass")}


def _mutate_fields(raw: dict[str, Any], protocol: str) -> dict[str, Any]:
    if "mutate" not in raw:
        raise ConfigError("mutate is required in mutate mode")
    return {"upstream": _upstream(raw, "mutate"), "mutate": _mutation(raw["mutate"], protocol)}


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


def _reject_misplaced(raw: dict[str, Any], protocol: str, mode: str) -> None:
    for key in sorted(raw):
        modes = [each for each, keys in _MODE_KEYS.items() if key in keys]
        if modes and mode not in modes:
            raise ConfigError(f"{key} is only valid in {_either(modes)} mode, not {mode}")
    for key, allowed in _PROTOCOLS_OF.items():
        if key in raw and protocol not in allowed:
            raise ConfigError(f"{key} is only valid for protocol {' or '.join(allowed)}, not {protocol}")


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


def _xclient(value: object, protocol: str) -> tuple[Attribute, ...]:
    hint = 'xclient must be a non-empty list of [NAME, value] pairs (FORWARD may give [[key, value], ...])'
    if not isinstance(value, list) or not value:
        raise ConfigError(hint)
    attributes = tuple(_xclient_attribute(item, index) for index, item in enumerate(value))
    try:
        format_xclient(attributes, flavour_for(protocol))
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


def _mutation(value: object, protocol: str) -> Mutation:
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"mutate must be an object with any of {', '.join(_MUTATE_KEYS)}")
    unknown = sorted(set(value) - set(_MUTATE_KEYS))
    if unknown:
        raise ConfigError(f"unknown mutate key(s): {', '.join(unknown)}")
    ttl_delta = value.get("ttl_delta", 0)
    if isinstance(ttl_delta, bool) or not isinstance(ttl_delta, int):
        raise ConfigError(f"mutate.ttl_delta must be an integer, not {ttl_delta!r}")
    return Mutation(
        drop=_names(value.get("drop", []), "mutate.drop"),
        drop_forward=_names(value.get("drop_forward", []), "mutate.drop_forward"),
        ttl_delta=ttl_delta,
        set_fields=_set_fields(value.get("set", {}), protocol),
    )


def _names(value: object, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(name, str) and name for name in value):
        raise ConfigError(f"{key} must be a list of non-empty strings")
    return tuple(value)


def _set_fields(value: object, protocol: str) -> tuple[IdField, ...]:
    if not isinstance(value, dict):
        raise ConfigError("mutate.set must be an object of names and values")
    if protocol not in XCLIENT_PROTOCOLS:
        return _id_fields([[key, item] for key, item in value.items()], "mutate.set")
    attributes = tuple(_set_attribute(name, item) for name, item in value.items())
    try:
        for attribute in attributes:
            format_xclient([attribute], flavour_for(protocol))
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


def _bool(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, not {value!r}")
    return value


def _timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"timeout must be a positive number of seconds, not {value!r}")
    return float(value)
