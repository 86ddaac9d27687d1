"""Loading scenarios: valid files become typed Scenarios; malformed ones name the file, the line and the field."""

from __future__ import annotations

import pytest

from harness.kinds.dovecot.model import DovecotNode
from harness.kinds.relay.model import RelayNode
from harness.load.scenario import ScenarioError, load_scenario
from tests.conftest import SCENARIOS, WriteScenario

VALID = """\
nodes:
  proxy:
    kind: dovecot
    role: proxy
    to: backend
    trust: [client]
  backend:
    kind: dovecot
    role: backend
    trust: [proxy]
clients:
  - to: proxy
expect:
  backend:
    login: {rip: "@client"}
"""


def error_of(write_scenario: WriteScenario, text: str) -> str:
    path = write_scenario(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return str(caught.value)


def test_every_shipped_scenario_loads() -> None:
    files = sorted(SCENARIOS.rglob("*.yaml"))
    assert files
    for file in files:
        scenario = load_scenario(file)
        assert scenario.name == file.relative_to(SCENARIOS).with_suffix("").as_posix()


def test_valid_scenario_is_typed(write_scenario: WriteScenario) -> None:
    scenario = load_scenario(write_scenario(VALID))
    assert isinstance(scenario.nodes["proxy"], DovecotNode)
    assert scenario.nodes["proxy"].to == "backend"
    assert scenario.clients[0].login is not None and scenario.clients[0].login.user == "alice"
    assert scenario.line_of("expect", "backend", "login", "rip") == 15


def test_unknown_field_names_file_line_and_field(write_scenario: WriteScenario) -> None:
    message = error_of(write_scenario, VALID.replace("    role: backend\n", "    role: backend\n    colour: red\n"))
    assert message.endswith("case.yaml:10: nodes.backend.colour: unknown field `colour`")


def test_wrong_enum_value(write_scenario: WriteScenario) -> None:
    message = error_of(write_scenario, VALID.replace("role: proxy", "role: proxi"))
    assert "case.yaml:4: nodes.proxy.role: Input should be 'proxy' or 'backend'" in message


def test_wrong_type_in_expectation(write_scenario: WriteScenario) -> None:
    message = error_of(write_scenario, VALID.replace('{rip: "@client"}', "{rip: [1, 2]}"))
    assert "case.yaml:15: expect.backend.login.rip:" in message


def test_reference_to_missing_node(write_scenario: WriteScenario) -> None:
    message = error_of(write_scenario, VALID.replace("to: backend", "to: backnd"))
    assert "case.yaml:5: nodes.proxy.to: no node named `backnd`" in message


def test_trust_entry_must_be_node_client_or_network(write_scenario: WriteScenario) -> None:
    message = error_of(write_scenario, VALID.replace("trust: [proxy]", "trust: [proxy, somewhere]"))
    assert "case.yaml:10: nodes.backend.trust[1]: `somewhere` is neither a node" in message


def test_trust_accepts_networks(write_scenario: WriteScenario) -> None:
    scenario = load_scenario(write_scenario(VALID.replace("trust: [proxy]", "trust: [proxy, 10.0.0.0/8, 2001:db8::1]")))
    assert scenario.nodes["backend"].trust == ("proxy", "10.0.0.0/8", "2001:db8::1")


def test_bad_matcher_and_unknown_node_reference(write_scenario: WriteScenario) -> None:
    message = error_of(write_scenario, VALID.replace('{rip: "@client"}', '{rip: {regexp: "1.*"}, lip: "@nobody"}'))
    assert "case.yaml:15: expect.backend.login.rip: `regexp` is neither a matcher" in message
    assert "case.yaml:15: expect.backend.login.lip: `@nobody` names no node" in message


def test_category_the_node_cannot_show(write_scenario: WriteScenario) -> None:
    message = error_of(write_scenario, VALID.replace("    login: {rip", "    proxied: {rip"))
    assert "case.yaml:15: expect.backend.proxied: a dovecot backend cannot show `proxied`" in message


def test_id_on_dovecot_needs_a_2_3_pin(write_scenario: WriteScenario) -> None:
    text = VALID.replace('    login: {rip: "@client"}', "    ttl: 4")
    assert "only Dovecot 2.3 logs the ID it received" in error_of(write_scenario, text)
    pinned = load_scenario(write_scenario('servers: {dovecot: ["2.3"]}\n' + text, name="pinned"))
    assert pinned.servers["dovecot"] == ("2.3",)


def test_versions_must_be_strings(write_scenario: WriteScenario) -> None:
    message = error_of(write_scenario, "servers: {dovecot: [2.3]}\n" + VALID)
    assert "case.yaml:1: servers.dovecot: write versions as quoted strings" in message


def test_yaml_syntax_error_names_line(write_scenario: WriteScenario) -> None:
    message = error_of(write_scenario, VALID.replace("    role: backend", "    role: [backend"))
    assert "case.yaml:" in message and "not valid YAML" in message


def test_duplicate_key(write_scenario: WriteScenario) -> None:
    message = error_of(write_scenario, VALID.replace("    role: backend\n", "    role: backend\n    role: proxy\n"))
    assert "case.yaml:10: duplicate key 'role'" in message


def test_proxy_without_to_and_capture_with_to(write_scenario: WriteScenario) -> None:
    message = error_of(write_scenario, VALID.replace("    to: backend\n", ""))
    assert "nodes.proxy: a proxy needs `to:`" in message
    text = VALID.replace("to: backend", "to: sink")
    text = text.replace("nodes:\n", "nodes:\n  sink:\n    kind: relay\n    mode: capture\n    to: proxy\n")
    assert "nodes.sink: a capture relay is a terminal sink" in error_of(write_scenario, text)


def test_not_a_mapping(write_scenario: WriteScenario) -> None:
    assert "case.yaml:1: a scenario is a mapping" in error_of(write_scenario, "- just\n- a list\n")


def test_relay_defaults(write_scenario: WriteScenario) -> None:
    front = "  front:\n    kind: relay\n    mode: inject\n    to: proxy\n    id: {x-forward-a: b}\n"
    text = VALID.replace("nodes:\n", "nodes:\n" + front)
    relay = load_scenario(write_scenario(text)).nodes["front"]
    assert isinstance(relay, RelayNode) and relay.protocol == "imap" and relay.id == {"x-forward-a": "b"}


def test_protocol_specific_fields_are_checked(write_scenario: WriteScenario) -> None:
    relay = "  front: {kind: relay, mode: inject, protocol: pop3, to: proxy, id: {x-a: b}}\n"
    assert "nodes.front: `id:` is IMAP's; pop3 forwards with `xclient:`" in error_of(
        write_scenario, VALID.replace("nodes:\n", "nodes:\n" + relay))
    client = "  - {protocol: imap, to: proxy, mail: {to: [a@example.test]}}\n"
    assert "clients[1]: `mail:` needs submission, lmtp or smtp, not imap" in error_of(
        write_scenario, VALID.replace("expect:\n", client + "expect:\n"))
    lmtp_login = "  - {protocol: lmtp, to: proxy, login: {user: a}}\n"
    text = VALID.replace("expect:\n", lmtp_login + "expect:\n")
    assert "clients[1]: LMTP has no login" in error_of(write_scenario, text)


def test_postfix_node_and_relay_host_reference(write_scenario: WriteScenario) -> None:
    text = VALID.replace("    trust: [proxy]\n", "    trust: [proxy]\n    submission_relay_host: pf\n")
    assert "nodes.backend.submission_relay_host: no node named `pf`" in error_of(write_scenario, text)
    with_pf = text.replace("clients:\n", "  pf: {kind: postfix, trust: [backend]}\nclients:\n")
    scenario = load_scenario(write_scenario(with_pf, name="with_pf"))
    assert scenario.families() == ["dovecot", "postfix"]
    bad_category = with_pf + "  pf:\n    login: {rip: x}\n"
    assert "expect.pf.login: a postfix smtpd cannot show `login`; it shows: client, connect, disconnect, recipient" in (
        error_of(write_scenario, bad_category))


def test_imap_and_pop3_log_in_by_default_smtp_does_not(write_scenario: WriteScenario) -> None:
    text = VALID.replace("  - to: proxy\n", "  - to: proxy\n  - {protocol: pop3, to: proxy}\n"
                                             "  - {protocol: submission, to: proxy}\n")
    sessions = load_scenario(write_scenario(text)).clients
    assert [s.login is not None for s in sessions] == [True, True, False]


def test_a_scenario_needs_a_real_server(write_scenario: WriteScenario) -> None:
    text = "nodes:\n  sink: {kind: relay, mode: capture}\nclients:\n  - to: sink\n"
    assert "case.yaml:1: nodes: a scenario needs at least one real server" in error_of(write_scenario, text)


def test_readme_examples_are_valid_scenarios(write_scenario: WriteScenario) -> None:
    import re

    from tests.conftest import ROOT

    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    scenarios = [block for block in blocks if block.startswith(("nodes:", "description:"))]
    assert len(scenarios) >= 5
    for index, block in enumerate(scenarios):
        load_scenario(write_scenario(block, name=f"readme{index}"))


@pytest.mark.parametrize("node", [
    "  mta:\n    kind: postfix\n    bogus: 1\n",
    "  mta:\n    kind: dovecot\n    role: backend\n    bogus: 1\n",
    "  mta:\n    kind: relay\n    mode: capture\n    bogus: 1\n",
], ids=["postfix", "dovecot", "relay"])
def test_an_unknown_field_is_reported_at_its_line_for_every_kind(write_scenario: WriteScenario, node: str) -> None:
    """The field's own line and path, whatever the kind (pydantic's union tags never reach the message)."""
    text = VALID.replace("nodes:\n", "nodes:\n" + node)
    line = 1 + node.count("\n")
    message = error_of(write_scenario, text)
    assert message.endswith(f"case.yaml:{line}: nodes.mta.bogus: unknown field `bogus`"), message
    assert message.count("\n") == 0, message


def test_an_unknown_kind_lists_the_registered_ones(write_scenario: WriteScenario) -> None:
    from harness.kinds import registry

    message = error_of(write_scenario, VALID.replace("nodes:\n", "nodes:\n  x:\n    kind: exim\n"))
    assert message.endswith(f"case.yaml:3: nodes.x.kind: `kind:` must be one of {', '.join(registry.names())}, "
                            "not `exim`"), message


def test_yaml_scalars_are_read_as_yaml_1_2_core(write_scenario: WriteScenario) -> None:
    """`login: NO` is the IMAP status, not YAML 1.1's false; yes/on/off stay words."""
    text = VALID.replace("  - to: proxy\n", "  - to: proxy\n    expect: {login: NO, id_reply: yes, greeting: on}\n")
    session = load_scenario(write_scenario(text)).clients[0]
    assert (session.expect.login, session.expect.id_reply, session.expect.greeting) == ("NO", "yes", "on")


@pytest.mark.parametrize(("value", "message"), [
    ("{}", "an empty mapping checks nothing"),
    ("{min: 5, max: 1}", "min 5 is above max 1: no value can match"),
])
def test_empty_and_impossible_matchers_are_refused(write_scenario: WriteScenario, value: str, message: str) -> None:
    text = VALID.replace('login: {rip: "@client"}', f"login: {{rip: {value}}}")
    assert f"expect.backend.login.rip: {message}" in error_of(write_scenario, text)
