"""Each kind of expectation can fail: a misconfigured or misbehaving hop makes the shipped scenario fail,
with a message that names the hop and the parameter. Runs real servers (needs Docker)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from tests.docker_support import docker_client, has_fail_line, hop_section, run_scenarios, shipped, write

pytestmark = pytest.mark.docker

Mutation = Callable[[dict], None]  # type: ignore[type-arg]


def proxy_trusts_nobody(data: dict) -> None:  # type: ignore[type-arg]
    data["nodes"]["proxy"]["trust"] = []


def front_drops_forward_field(data: dict) -> None:  # type: ignore[type-arg]
    del data["nodes"]["front"]["id"]["x-forward-tenant"]


def client_ttl_not_lowered(data: dict) -> None:  # type: ignore[type-arg]
    data["clients"][0]["id"]["x-proxy-ttl"] = 6


def proxy_trusts_the_untrusted(data: dict) -> None:  # type: ignore[type-arg]
    data["nodes"]["proxy"]["trust"] = ["client"]


def front_ttl_not_lowered(data: dict) -> None:  # type: ignore[type-arg]
    data["nodes"]["front"]["xclient"]["TTL"] = 6


def front_drops_rcpt_forward(data: dict) -> None:  # type: ignore[type-arg]
    del data["nodes"]["front"]["rcpt_forward"]


def postfix_authorizes_nobody(data: dict) -> None:  # type: ignore[type-arg]
    data["nodes"]["pf"]["trust"] = []


def relay_not_trusted(data: dict) -> None:  # type: ignore[type-arg]
    data["nodes"]["dovecot"]["submission_relay_trusted"] = False


def crash_not_declared(data: dict) -> None:  # type: ignore[type-arg]
    del data["known_issues"]


def crash_declared_everywhere(data: dict) -> None:  # type: ignore[type-arg]
    data["known_issues"][0]["servers"] = ["dovecot-2.3", "dovecot-2.4"]


# (mutant name, shipped scenario, mutation, [(hop, field[, only on this version])] that must have a FAIL line)
MUTANTS: list[tuple[str, str, Mutation, list[tuple[str, ...]]]] = [
    ("front_untrusted", "imap/trusted_front", proxy_trusts_nobody,
     [("proxy", "proxied.rip"), ("proxy", "proxied.session"), ("backend", "login.rip"), ("backend", "login.rport"),
      ("backend", "forward.tenant")]),
    ("front_drops_field", "imap/trusted_front", front_drops_forward_field, [("backend", "forward.tenant")]),
    ("ttl_not_lowered", "imap/proxy_sends", client_ttl_not_lowered, [("sink", "ttl")]),
    ("sender_untrusted", "imap/proxy_sends", proxy_trusts_nobody,
     [("sink", "id.x-originating-ip"), ("sink", "id.x-session-id"), ("sink", "forward.tenant"),
      ("client[0] -> proxy", "reply.id_reply", "dovecot-2.4")]),  # 2.3 says "OK ID completed." either way
    ("untrusted_honoured", "imap/untrusted_ignored", proxy_trusts_the_untrusted,
     [("proxy", "proxied.rip"), ("proxy", "proxied.session"), ("backend", "login[0].rip"),
      ("backend", "forward.tenant")]),
    ("pop3_sender_untrusted", "pop3/proxy_sends", proxy_trusts_nobody,
     [("sink", "xclient.ADDR"), ("sink", "xclient.SESSION"), ("sink", "forward.tenant"),
      ("client[0] -> proxy", "reply.xclient_reply")]),
    ("lmtp_ttl_not_lowered", "lmtp/trusted_front", front_ttl_not_lowered, [("backend", "xclient.TTL")]),
    ("lmtp_drops_forward", "lmtp/trusted_front", front_drops_rcpt_forward, [("backend", "forward.tenant")]),
    ("lmtp_front_untrusted", "lmtp/trusted_front", proxy_trusts_nobody,
     [("backend", "xclient.ADDR"), ("backend", "xclient.SESSION"), ("backend", "delivery.session"),
      ("backend", "auth.rip")]),
    ("postfix_front_unauthorized", "postfix/xclient_trusted", postfix_authorizes_nobody,
     [("pf", "client.addr"), ("pf", "client.sasl_username"), ("pf", "recipient.addr"), ("pf", "disconnect.addr")]),
    ("relay_untrusted", "submission/relay_to_postfix", relay_not_trusted,
     [("pf", "client.addr"), ("pf", "client.sasl_method"), ("pf", "recipient.addr")]),
    # Server health: an undeclared crash fails (2.3 only crashes), a declared crash that does not happen fails.
    ("crash_undeclared", "loops/imap_ring_2", crash_not_declared, [("server health", "CRASH b:", "dovecot-2.3")]),
    ("crash_fixed", "loops/imap_ring_2", crash_declared_everywhere,
     [("server health", "FIXED? a declared known issue did not happen", "dovecot-2.4")]),
]
PASSES_ON = {"crash_undeclared": "dovecot-2.4", "crash_fixed": "dovecot-2.3"}
"""Mutants that change nothing on some versions: there the item still passes, or is a known issue."""


@pytest.fixture(scope="module")
def mutant_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    docker_client()
    folder = tmp_path_factory.mktemp("mutants")
    for name, source, mutate, _ in MUTANTS:
        data = copy.deepcopy(shipped(source))
        mutate(data)
        write(folder, name, data)
    return run_scenarios(folder)


@pytest.mark.parametrize(("mutant", "hop_fields"), [(m[0], m[3]) for m in MUTANTS], ids=[m[0] for m in MUTANTS])
def test_mutant_fails_naming_hop_and_parameter(mutant_results: dict[str, str | None], mutant: str,
                                               hop_fields: list[tuple[str, ...]]) -> None:
    items = {name: text for name, text in mutant_results.items() if name.startswith(f"{mutant}[")}
    assert len(items) >= 2, f"{mutant} should run on every version of the matrix: {sorted(mutant_results)}"
    for item, text in items.items():
        if mutant in PASSES_ON and PASSES_ON[mutant] in item:
            continue
        assert text is not None, f"{item} passed, but the mutation should have made it fail"
        assert "chain: client" in text
        for hop, field, *only in hop_fields:
            if only and only[0] not in item:
                continue
            if hop == "server health":
                assert any(field in line for line in hop_section(text, hop)), (
                    f"{item}: no `{field}` in server health:\n{text}")
                continue
            assert has_fail_line(text, hop, field), f"{item}: no FAIL line for {field} under hop {hop}:\n{text}"
