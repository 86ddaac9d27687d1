"""The relay serves every protocol of the protocol table, every mode, as real subprocesses on 127.0.0.1 (no Docker).

The tests read the table, so a new row is tested without a new test; what differs per wire family is
the little dialogue below.
"""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ConfigDict

from harness.protocol.table import NAMES, PROTOCOLS, ProtocolRow
from harness.relay.config import MODES, ConfigError, Mutation, load_config, parse_config
from harness.relay.protocols import HANDLERS, WIRES
from tests.relay_support import (
    GREETING,
    LMTP_GREETING,
    POP3_GREETING,
    SMTP_GREETING,
    Event,
    LineClient,
    Relay,
    config,
    start,
)
from tests.relay_support import started_relays as started_relays  # the ``relays`` fixture

ADDR = "203.0.113.7"


def test_handlers_cover_every_protocol_and_mode() -> None:
    assert {(protocol, mode) for protocol, modes in HANDLERS.items() for mode in modes} == {
        (protocol, mode) for protocol in PROTOCOLS for mode in MODES
    }
    assert set(WIRES) == {row.wire for row in PROTOCOLS.values()}


# --- each wire family's dialogue -----------------------------------------------------------------------------


def greeting(row: ProtocolRow) -> str:
    """What a capture relay of ``row`` greets with (its default config)."""
    if row.wire == "imap":
        return GREETING
    if row.wire == "pop3":
        return POP3_GREETING
    return LMTP_GREETING if row.hello == "LHLO" else SMTP_GREETING


def forward_line(row: ProtocolRow, ttl: int) -> bytes:
    """A forwarding command as a proxy sends it: the client's address and a TTL."""
    if row.forwards_with == "id":
        return f'a ID ("x-originating-ip" "{ADDR}" "x-proxy-ttl" "{ttl}")\r\n'.encode()
    return f"XCLIENT ADDR={ADDR} TTL={ttl}\r\n".encode()


def expected_forward(row: ProtocolRow, ttl: int) -> dict[str, str]:
    """The parameters of :func:`forward_line`, as a capture records them."""
    if row.forwards_with == "id":
        return {"x-originating-ip": ADDR, "x-proxy-ttl": str(ttl)}
    return {"ADDR": ADDR, "TTL": str(ttl)}


def forward_settings(row: ProtocolRow, ttl: int) -> dict[str, object]:
    """An inject relay's config for the same parameters."""
    if row.forwards_with == "id":
        return {"id": [["x-originating-ip", ADDR], ["x-proxy-ttl", str(ttl)]]}
    return {"xclient": [["ADDR", ADDR], ["TTL", str(ttl)]]}


def read_forward_reply(row: ProtocolRow, client: LineClient) -> None:
    """Read the capture's answer to :func:`forward_line`, checking it took the parameters."""
    if row.wire == "imap":
        assert client.until_tagged("a") == ["* ID NIL", "a OK ID completed."]
    elif row.wire == "pop3":
        assert client.line() == "+OK Updated"
    else:
        assert client.reply() == [greeting(row)]


def goodbye(row: ProtocolRow) -> bytes:
    return b"z LOGOUT\r\n" if row.tagged else b"QUIT\r\n"


def forwarded(relay: Relay) -> dict[str, str]:
    """The parameters of the forwarding command ``relay`` received on connection 1."""
    event: Event = next(e for e in received_on_1(relay) if e["command"] in ("ID", "XCLIENT"))
    return dict(event["id"] if "id" in event else event["xclient"])


def received_on_1(relay: Relay) -> list[Event]:
    relay.wait_for("closed", conn=1)
    return [e for e in relay.events if e["event"] == "received" and e["conn"] == 1]


def capture_config(row: ProtocolRow) -> dict[str, object]:
    return config(row.name, "capture")


def upstream(relay: Relay) -> dict[str, object]:
    return {"host": "127.0.0.1", "port": relay.port}


# --- every protocol, every mode ------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", NAMES)
def test_capture_serves_every_protocol(relays: list[Relay], protocol: str) -> None:
    row = PROTOCOLS[protocol]
    cap = start(relays, capture_config(row))
    client = LineClient(cap.port)
    assert client.line() == greeting(row)
    client.send(forward_line(row, 4))
    read_forward_reply(row, client)
    client.send(goodbye(row))
    client.line()
    assert forwarded(cap) == expected_forward(row, 4)


@pytest.mark.parametrize("protocol", NAMES)
def test_inject_serves_every_protocol(relays: list[Relay], protocol: str) -> None:
    row = PROTOCOLS[protocol]
    cap = start(relays, capture_config(row))
    front = start(relays, config(protocol, "inject", name="front", upstream=upstream(cap), **forward_settings(row, 7)))
    client = LineClient(front.port)
    assert client.line() == greeting(row)
    client.send(goodbye(row))
    client.line()
    assert front.wait_for("injected", conn=1)["line"] == received_on_1(cap)[int(row.hello is not None)]["line"]
    assert forwarded(cap) == expected_forward(row, 7)
    if row.hello is not None:
        assert received_on_1(cap)[0]["command"] == row.hello
    assert not [e for e in front.events if e["event"] == "error"]


@pytest.mark.parametrize("mode", ["pass", "mutate"])
@pytest.mark.parametrize("protocol", NAMES)
def test_pass_and_mutate_serve_every_protocol(relays: list[Relay], protocol: str, mode: str) -> None:
    row = PROTOCOLS[protocol]
    cap = start(relays, capture_config(row))
    extra: dict[str, object] = {"mutate": {"ttl_delta": 1}} if mode == "mutate" else {}
    hop = start(relays, config(protocol, mode, name="hop", upstream=upstream(cap), **extra))
    client = LineClient(hop.port)
    assert client.line() == greeting(row)
    client.send(forward_line(row, 4))
    read_forward_reply(row, client)
    client.send(goodbye(row))
    client.line()
    assert forwarded(hop) == expected_forward(row, 4)
    assert forwarded(cap) == expected_forward(row, 5 if mode == "mutate" else 4)
    assert hop.wait_for("upstream_greeting", conn=1)["line"] == greeting(row)


# --- one definition of each setting ------------------------------------------------------------------------


def test_smtp_is_configured_like_submission() -> None:
    smtp = load_config(json.dumps(config("smtp", "capture")))
    submission = load_config(json.dumps(config("submission", "capture")))
    assert (smtp.row.port, submission.row.port) == (25, 587)
    assert (smtp.advertise, smtp.accept, smtp.xrcptforward) == (
        submission.advertise, submission.accept, submission.xrcptforward)
    with pytest.raises(ConfigError, match="rcpt_forward is only valid for protocol lmtp, not smtp"):
        parse_config(config("smtp", "inject", upstream={"host": "h", "port": 25}, xclient=[["ADDR", ADDR]],
                            rcpt_forward=[["k", "v"]]))


class _Scenario(BaseModel):
    """A stand-in for the harness's scenario model: it validates ``mutate:`` straight into the relay's Mutation."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mutate: Mutation


def test_a_scenario_model_validates_into_the_relays_mutation() -> None:
    written = {"drop": ["ADDR"], "ttl_delta": -1, "set": {"TTL": 9, "FORWARD": [["tenant", "acme"]]}}
    mutation = _Scenario.model_validate({"mutate": written}).mutate
    assert mutation == Mutation(drop=("ADDR",), ttl_delta=-1, set={"TTL": 9, "FORWARD": [["tenant", "acme"]]})
    assert mutation.set_fields("smtp") == (("TTL", "9"), ("FORWARD", "dGVuYW50PWFjbWU="))
    with pytest.raises(ValueError, match="dorp"):
        _Scenario.model_validate({"mutate": {"dorp": []}})
    relay = parse_config(config("smtp", "mutate", upstream={"host": "h", "port": 25}, mutate=mutation.to_config()))
    assert relay.mutate is not None
    assert relay.mutate.set_fields("smtp") == mutation.set_fields("smtp")
    assert relay.mutate.set == {"TTL": "9", "FORWARD": [["tenant", "acme"]]}


@pytest.mark.parametrize(
    ("protocol", "values", "message"),
    [
        ("submission", {"ADDR": None}, "mutate.set ADDR"),
        ("imap", {"FORWARD": [["k", "v"]]}, "mutate.set"),
        ("pop3", {"ADDR": "1 2"}, "SP"),
        ("lmtp", {"FORWARD": [["a=b", "v"]]}, "FORWARD"),
        ("no-such", {}, "protocol must be one of"),
    ],
)
def test_set_fields_refuses_what_the_protocol_cannot_send(protocol: str, values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Mutation(set=values).set_fields(protocol)
