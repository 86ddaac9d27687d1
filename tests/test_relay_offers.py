"""What a capture relay offers its peer, so a scenario can check that a proxy sends only what the next hop offers:
an IMAP greeting without CAPABILITY, a CAPABILITY list without ID (`capabilities`, `greeting_capability`), an LMTP
LHLO without XRCPTFORWARD (`xrcptforward`); in the relay as a real subprocess, in its config and in the scenario
model."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from harness.kinds.relay.kind import relay_config
from harness.kinds.relay.model import RelayNode
from harness.plan.topology import NodePlan
from harness.relay.config import IMAP_CAPTURE_CAPABILITIES, load_config
from harness.relay.protocols import HANDLERS
from tests.relay_support import GREETING, LMTP_GREETING, Client, LineClient, Relay, config, run_with_config, start
from tests.relay_support import started_relays as started_relays  # the ``relays`` fixture

# --- the relay ---------------------------------------------------------------------------------------------------


def test_imap_capture_without_capability_in_its_greeting_still_answers_capability(relays: list[Relay]) -> None:
    cap = start(relays, config("imap", "capture", greeting_capability=False))
    client = Client(cap.port)
    assert client.line() == "* OK mailhops capture ready"
    client.send(b"C CAPABILITY\r\nL LOGIN alice secret\r\n")
    assert client.until_tagged("C") == ["* CAPABILITY IMAP4rev1 ID LITERAL+ AUTH=PLAIN", "C OK CAPABILITY completed."]
    assert client.until_tagged("L") == ["L NO [AUTHENTICATIONFAILED] mailhops capture refuses every login"]
    assert cap.wait_for("received", command="LOGIN")["tag"] == "L"


def test_imap_capture_offers_the_capabilities_it_is_given(relays: list[Relay]) -> None:
    cap = start(relays, config("imap", "capture", capabilities=["IMAP4rev1", "LITERAL+"]))
    client = Client(cap.port)
    assert client.line() == "* OK [CAPABILITY IMAP4rev1 LITERAL+] mailhops capture ready"
    client.send(b"C CAPABILITY\r\n")
    assert client.until_tagged("C") == ["* CAPABILITY IMAP4rev1 LITERAL+", "C OK CAPABILITY completed."]


def test_imap_capture_default_greeting_is_unchanged(relays: list[Relay]) -> None:
    cap = start(relays, config("imap", "capture"))
    assert Client(cap.port).line() == GREETING


def test_lmtp_capture_without_xrcptforward_but_with_xclient(relays: list[Relay]) -> None:
    cap = start(relays, config("lmtp", "capture", xrcptforward=False, advertise=["ADDR", "PORT"]))
    client = LineClient(cap.port)
    assert client.line() == LMTP_GREETING
    client.send(b"LHLO x\r\n")
    assert client.reply() == ["250-capture.test", "250-PIPELINING", "250-ENHANCEDSTATUSCODES", "250-8BITMIME",
                              "250 XCLIENT ADDR PORT"]


# --- its configuration --------------------------------------------------------------------------------------------


def test_config_defaults_and_values() -> None:
    imap = load_config(json.dumps(config("imap", "capture")), protocols=HANDLERS)
    assert (imap.capabilities, imap.greeting_capability) == (IMAP_CAPTURE_CAPABILITIES, True)
    assert "ID" in IMAP_CAPTURE_CAPABILITIES
    given = config("imap", "capture", capabilities=["IMAP4rev1"], greeting_capability=False)
    imap = load_config(json.dumps(given), protocols=HANDLERS)
    assert (imap.capabilities, imap.greeting_capability) == (("IMAP4rev1",), False)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (config("imap", "capture", capabilities=[]), "capabilities"),
        (config("imap", "capture", capabilities="IMAP4rev1 ID"), "capabilities"),
        (config("imap", "capture", capabilities=["IMAP4rev1 ID"]), "capabilities"),
        (config("imap", "capture", capabilities=["[ID]"]), "capabilities"),
        (config("imap", "capture", greeting_capability="no"), "greeting_capability"),
        (config("pop3", "capture", capabilities=["ID"]), "imap"),
        (config("submission", "capture", greeting_capability=False), "imap"),
        (config("imap", "pass", upstream={"host": "h", "port": 1}, capabilities=["ID"]), "capture mode"),
    ],
)
def test_bad_config_exits_2_with_one_line(settings: dict[str, object], message: str) -> None:
    result = run_with_config(json.dumps(settings))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr


# --- the scenario model -------------------------------------------------------------------------------------------


def node_config(**fields: object) -> dict[str, object]:
    spec = RelayNode.model_validate({"kind": "relay", "mode": "capture", **fields})
    return relay_config(NodePlan("sink", spec, "10.0.0.11", None, ()))


def test_model_passes_the_offers_to_the_relay() -> None:
    assert node_config(capabilities=["IMAP4rev1", "LITERAL+"], greeting_capability=False) == {
        "name": "sink", "protocol": "imap", "mode": "capture", "listen": {"host": "0.0.0.0", "port": 143},
        "timeout": 30, "capabilities": ["IMAP4rev1", "LITERAL+"], "greeting_capability": False}
    lmtp = node_config(protocol="lmtp", xrcptforward=False, advertise=[])
    assert (lmtp["xrcptforward"], lmtp["advertise"]) == (False, [])
    # Defaults are the relay's own: nothing is written.
    assert not {"capabilities", "greeting_capability", "xrcptforward"} & set(node_config())
    assert not {"capabilities", "greeting_capability", "xrcptforward"} & set(node_config(protocol="lmtp"))
    for written in (node_config(), node_config(protocol="lmtp", xrcptforward=False)):
        load_config(json.dumps({**written, "listen": {"host": "127.0.0.1", "port": 0}}), protocols=HANDLERS)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"protocol": "smtp", "xrcptforward": False}, "LMTP's"),
        ({"protocol": "pop3", "capabilities": ["ID"]}, "IMAP's"),
        ({"protocol": "submission", "greeting_capability": False}, "IMAP's"),
        ({"capabilities": []}, "at least one"),
        ({"advertise": ["ADDR"]}, "capabilities:"),
        ({"mode": "pass", "to": "b", "capabilities": ["ID"]}, "capture relays"),
        ({"mode": "inject", "to": "b", "protocol": "lmtp", "xrcptforward": False}, "capture relays"),
    ],
)
def test_model_refuses_offers_that_mean_nothing(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RelayNode.model_validate({"kind": "relay", "mode": "capture", **fields})
