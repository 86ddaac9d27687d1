"""The relay's `mutate` mode as a faulty hop: inserted on a link of a shipped scenario, a hop that forgets to
lower the TTL, drops a parameter, or forwards what an untrusted sender claimed must make the scenario fail with
a message naming the hop and the parameter. Runs real servers (needs Docker)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pytest

from tests.docker_support import docker_client, has_fail_line, run_scenarios, shipped, write

pytestmark = pytest.mark.docker


@dataclass(frozen=True)
class Mutant:
    name: str
    scenario: str
    after: str
    """The node whose outgoing link gets the faulty hop, or `client` for the client's link."""
    mutate: dict[str, object] | None
    """The relay's `mutate:`; None for a transparent `pass` hop that the next node trusts."""
    fails: list[tuple[str, str]] = field(default_factory=list)
    """(hop, field) pairs that must have a FAIL line, on every version combination."""


def insert_hop(data: dict, mutant: Mutant) -> None:  # type: ignore[type-arg]
    """Put a relay named `bad` on the link leaving `mutant.after`; the next node trusts it as it trusted `after`."""
    nodes = data["nodes"]
    if mutant.after == "client":
        session = data["clients"][0]
        target, session["to"] = session["to"], "bad"
        protocol = session.get("protocol", "imap")
    else:
        target, nodes[mutant.after]["to"] = nodes[mutant.after]["to"], "bad"
        protocol = next((s.get("protocol", "imap") for s in data["clients"]), "imap")
    relay = {"kind": "relay", "mode": "pass" if mutant.mutate is None else "mutate", "protocol": protocol,
             "to": target}
    if mutant.mutate is not None:
        relay["mutate"] = mutant.mutate
    nodes["bad"] = relay
    trust = nodes[target].setdefault("trust", [])
    nodes[target]["trust"] = [*trust, "bad"]


MUTANTS = [
    Mutant("imap_ttl_kept", "imap/proxy_sends", "proxy", {"ttl_delta": 1}, [("sink", "ttl")]),
    Mutant("imap_drops_forward", "imap/trusted_front", "proxy", {"drop": ["x-forward-tenant"]},
           [("backend", "forward.tenant")]),
    Mutant("imap_drops_address", "imap/trusted_front", "proxy", {"drop": ["x-originating-ip"]},
           [("backend", "login.rip")]),
    Mutant("imap_forwards_untrusted", "imap/untrusted_ignored", "client", None,
           [("proxy", "proxied.rip"), ("backend", "login[0].rip"), ("backend", "forward.tenant")]),
    Mutant("pop3_drops_forward", "pop3/proxy_sends", "proxy", {"drop_forward": ["tenant"]},
           [("sink", "forward.tenant")]),
    Mutant("pop3_ttl_kept", "pop3/proxy_sends", "proxy", {"ttl_delta": 1}, [("sink", "ttl")]),
    Mutant("submission_drops_session", "submission/trusted_front", "proxy", {"drop": ["SESSION"]},
           [("backend", "xclient.SESSION"), ("backend", "login.session")]),
    Mutant("submission_forwards_untrusted", "submission/untrusted_refused", "client", None,
           [("backend", "login[0].rip"), ("backend", "xclient[0].ADDR"), ("client[0] -> bad", "reply.xclient")]),
    Mutant("lmtp_ttl_kept", "lmtp/trusted_front", "proxy", {"ttl_delta": 1}, [("backend", "xclient.TTL")]),
    Mutant("lmtp_drops_forward", "lmtp/trusted_front", "proxy", {"drop_forward": ["tenant"]},
           [("backend", "forward.tenant")]),
    Mutant("postfix_gets_other_address", "postfix/xclient_trusted", "front", {"set": {"ADDR": "192.0.2.66"}},
           [("pf", "client.addr"), ("pf", "recipient.addr")]),
    Mutant("chain_ttl_kept", "ttl/chain_3", "p1", {"ttl_delta": 1}, [("l2", "ttl"), ("l3", "ttl")]),
]


@pytest.fixture(scope="module")
def mutant_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    docker_client()
    folder = tmp_path_factory.mktemp("faulty_hops")
    for mutant in MUTANTS:
        data = copy.deepcopy(shipped(mutant.scenario))
        insert_hop(data, mutant)
        write(folder, mutant.name, data)
    return run_scenarios(folder)


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_faulty_hop_fails_naming_hop_and_parameter(mutant_results: dict[str, str | None], mutant: Mutant) -> None:
    items = {name: text for name, text in mutant_results.items() if name.startswith(f"{mutant.name}[")}
    assert len(items) >= 2, f"{mutant.name} should run on every version: {sorted(mutant_results)}"
    for item, text in items.items():
        assert text is not None, f"{item} passed, but its faulty hop should have made it fail"
        assert "[relay " in text and "bad [relay" in text, f"{item}: the chain should show the faulty hop:\n{text}"
        for hop, name in mutant.fails:
            assert has_fail_line(text, hop, name), f"{item}: no FAIL line for {name} under hop {hop}:\n{text}"
