"""What `--keep` prints (harness/report/reach.py): per node and protocol a command to paste, that follows the
node's trust lists, its PROXY listeners, the scenario's logins and envelopes, and whether TLS is on."""

from __future__ import annotations

import shlex

from harness.load.scenario import load_scenario
from harness.plan.topology import Plan, plan
from harness.report.reach import commands, keep_text, served
from tests.conftest import WriteScenario

CHAIN = """\
nodes:
  proxy: {kind: dovecot, role: proxy, to: backend, trust: [client]}
  backend: {kind: dovecot, role: backend, trust: [proxy]}
clients:
  - to: proxy
"""


def plan_of(write_scenario: WriteScenario, text: str) -> Plan:
    scenario = load_scenario(write_scenario(text))
    return plan(scenario, {"dovecot": "2.4", "postfix": "3.10"}, "10.99.0.0/24",
                "fd00:99::/64" if scenario.ipv6 else None)


def of(the_plan: Plan, name: str) -> dict[str, str]:
    return dict(commands(the_plan, name))


def argv(command: str) -> list[str]:
    """The command as the shell splits it, without a trailing comment."""
    return shlex.split(command, comments=True)


def test_a_trusting_dovecot_proxy_gets_a_command_per_protocol(write_scenario: WriteScenario) -> None:
    found = of(plan_of(write_scenario, CHAIN), "proxy")
    assert list(found) == ["imap", "imap ID", "pop3", "pop3 XCLIENT", "submission", "lmtp", "TLS"]
    assert found["imap"] == "curl -v imap://10.99.0.10/ -u alice:secret"
    assert found["pop3"] == "curl -v pop3://10.99.0.10/ -u alice:secret"
    assert argv(found["imap ID"]) == [
        "printf", "%s\\r\\n", 'a ID ("x-originating-ip" "203.0.113.7" "x-originating-port" "41234")',
        'b LOGIN "alice" "secret"', "c LOGOUT", "|", "nc", "-w", "5", "10.99.0.10", "143"]
    assert argv(found["pop3 XCLIENT"])[2:6] == ["XCLIENT ADDR=203.0.113.7 PORT=41234", "USER alice", "PASS secret",
                                                "QUIT"]
    # It trusts the host (the scenario's `client`): XCLIENT is sent, not optional; no session logs in by
    # submission, so AUTH only if offered.
    assert argv(found["submission"]) == [
        "swaks", "--server", "10.99.0.10:587", "--from", "alice@example.test", "--to", "bob@example.net",
        "--auth-optional", "PLAIN", "--auth-user", "alice", "--auth-password", "secret",
        "--xclient-addr", "203.0.113.7", "--xclient-port", "41234"]
    assert argv(found["lmtp"]) == [
        "swaks", "--server", "10.99.0.10:24", "--protocol", "LMTP", "--from", "alice@example.test",
        "--to", "bob@example.net", "--xclient-addr", "203.0.113.7", "--xclient-port", "41234"]
    assert found["TLS"].startswith("none: plain text only")
    assert not any("#" in command for command in found.values())


def test_a_server_that_does_not_trust_the_host_says_so(write_scenario: WriteScenario) -> None:
    found = of(plan_of(write_scenario, CHAIN), "backend")
    assert found["imap ID"].endswith("  # ignored: backend does not trust 10.99.0.1")
    assert found["pop3 XCLIENT"].endswith("  # ignored: backend does not trust 10.99.0.1")
    assert argv(found["submission"])[-1] == "--xclient-optional"
    assert argv(found["lmtp"])[-1] == "--xclient-optional"


def test_the_scenarios_logins_and_envelopes_are_used(write_scenario: WriteScenario) -> None:
    the_plan = plan_of(write_scenario, """\
nodes:
  proxy: {kind: dovecot, role: proxy, to: backend, trust: [client]}
  backend: {kind: dovecot, role: backend, trust: [proxy]}
clients:
  - {to: proxy, login: {user: bob, password: "it's"}}
  - {protocol: submission, to: proxy, login: {user: carol, password: pw}, mail: {from: c@example.test, to: [d@x.test]}}
  - {protocol: lmtp, to: proxy, mail: {from: s@example.net, to: [alice@example.test, bob@example.test]}}
""")
    for name in ("proxy", "backend"):  # the backend is reached through the proxy: the same sessions
        found = of(the_plan, name)
        assert argv(found["imap"])[-2:] == ["-u", "bob:it's"]
        assert 'b LOGIN "bob" "it\'s"' in argv(found["imap ID"])
        assert argv(found["pop3"])[-1] == "alice:secret"  # no POP3 session: the default login
        submission = argv(found["submission"])
        assert submission[3:13] == ["--from", "c@example.test", "--to", "d@x.test", "--auth", "PLAIN",
                                    "--auth-user", "carol", "--auth-password", "pw"]
        assert argv(found["lmtp"])[5:11] == ["--from", "s@example.net", "--to", "alice@example.test",
                                             "--to", "bob@example.test"]


def test_a_relay_serves_its_protocol_and_a_front_what_reaches_it(write_scenario: WriteScenario) -> None:
    the_plan = plan_of(write_scenario, """\
nodes:
  edge: {kind: haproxy, to: proxy, proxy: none}
  proxy: {kind: dovecot, role: proxy, to: sink}
  sink: {kind: relay, mode: capture, protocol: pop3}
clients:
  - {protocol: pop3, to: edge}
  - {protocol: imap, to: edge, login: null}
""")
    assert served(the_plan, "edge") == ("pop3", "imap")
    assert served(the_plan, "sink") == ("pop3",)
    assert served(the_plan, "proxy") == ("imap", "pop3", "submission", "lmtp")
    sink = of(the_plan, "sink")
    assert list(sink) == ["pop3", "pop3 XCLIENT", "TLS"]
    # A hop of the harness's own has no trust to speak of: nothing is said to be ignored.
    assert "#" not in sink["pop3 XCLIENT"] and "#" not in of(the_plan, "edge")["imap ID"]


HAPROXY = """\
nodes:
  front: {kind: haproxy, to: proxy}
  proxy: {kind: dovecot, role: proxy, to: backend, haproxy: true, haproxy_trusted: [TRUSTED], trust: [client]}
  backend: {kind: dovecot, role: backend, trust: [proxy]}
  mta: {kind: postfix, haproxy: true}
clients:
  - {to: front}
  - {protocol: smtp, to: mta}
"""


def test_proxy_listeners_get_a_header_and_say_who_may_send_it(write_scenario: WriteScenario) -> None:
    refused = of(plan_of(write_scenario, HAPROXY.replace("TRUSTED", "front")), "proxy")
    assert refused["imap PROXY"] == ("curl -v --haproxy-protocol imap://10.99.0.11:10143/ -u alice:secret"
                                     "  # refused: 10.99.0.1 is not in proxy's haproxy_trusted")
    assert refused["pop3 PROXY"].startswith("curl -v --haproxy-protocol pop3://10.99.0.11:10110/ ")
    assert argv(refused["lmtp PROXY"]) == [
        "swaks", "--server", "10.99.0.11:10024", "--protocol", "LMTP", "--from", "alice@example.test",
        "--to", "bob@example.net", "--proxy-version", "1", "--proxy-family", "TCP4", "--proxy-source",
        "203.0.113.7", "--proxy-source-port", "41234", "--proxy-dest", "10.99.0.11", "--proxy-dest-port", "10024"]
    taken = of(plan_of(write_scenario, HAPROXY.replace("TRUSTED", "client")), "proxy")
    assert "#" not in taken["imap PROXY"] and "#" not in taken["submission PROXY"]
    # Postfix has no trust list for its PROXY listeners: every connection there must send a header.
    mta = of(plan_of(write_scenario, HAPROXY.replace("TRUSTED", "front")), "mta")
    assert list(mta) == ["smtp", "smtp PROXY", "submission", "submission PROXY", "TLS"]
    assert argv(mta["smtp PROXY"])[:3] == ["swaks", "--server", "10.99.0.13:10025"] and "#" not in mta["smtp PROXY"]
    assert argv(mta["submission PROXY"])[:3] == ["swaks", "--server", "10.99.0.13:10587"]
    assert "--xclient-addr" not in argv(mta["smtp PROXY"])


def test_openssl_only_where_the_operators_settings_turn_tls_on(write_scenario: WriteScenario) -> None:
    def tls(settings: str) -> dict[str, str]:
        text = CHAIN.replace("role: backend,", f"role: backend, {settings},")
        found = of(plan_of(write_scenario, text), "backend")
        return {label: command for label, command in found.items() if "TLS" in label}

    assert tls('settings: {ssl: "yes"}') == {
        "imap TLS": "openssl s_client -connect 10.99.0.11:143 -starttls imap",
        "pop3 TLS": "openssl s_client -connect 10.99.0.11:110 -starttls pop3",
        "submission TLS": "openssl s_client -connect 10.99.0.11:587 -starttls smtp",
        "lmtp TLS": "openssl s_client -connect 10.99.0.11:24 -starttls lmtp",
    }
    assert "imap TLS" in tls('config: {dovecot-2.4: "ssl = required\\n", default: ""}')
    assert list(tls('config: "ssl = yes\\nssl = no\\n"')) == ["TLS"]  # the last one wins
    assert list(tls("settings: {mail_debug: 'yes'}")) == ["TLS"]
    postfix = of(plan_of(write_scenario, """\
nodes:
  mta: {kind: postfix, settings: {smtpd_tls_security_level: may}}
clients:
  - {protocol: smtp, to: mta}
"""), "mta")
    assert postfix["smtp TLS"] == "openssl s_client -connect 10.99.0.10:25 -starttls smtp"


def test_keep_text_lists_every_node_with_its_container(write_scenario: WriteScenario) -> None:
    the_plan = plan_of(write_scenario, "ipv6: true\n" + CHAIN)
    text = keep_text(the_plan, {"proxy": "mailhops-case-proxy-1a2b3c", "backend": "mailhops-case-backend-4d5e6f"})
    lines = text.splitlines()
    assert lines[0] == ("kept for debugging (labelled mailhops.kept: other runs leave them alone; remove them "
                        "with python -m harness sweep):")
    assert lines[1] == ("  from this host you connect as 10.99.0.1, the scenario's `client` "
                        "(nodes that trust `client` trust you)")
    assert "  proxy (dovecot proxy): 10.99.0.10 [fd00:99::a]" in lines
    assert "  backend (dovecot backend): 10.99.0.11 [fd00:99::b]" in lines
    assert "    shell:        docker exec -it mailhops-case-proxy-1a2b3c sh" in lines
    assert "    log:          docker logs -f mailhops-case-backend-4d5e6f" in lines
    assert "    imap:         curl -v imap://10.99.0.10/ -u alice:secret" in lines
