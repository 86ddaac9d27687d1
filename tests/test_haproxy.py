"""The haproxy node kind: its model, the config it renders (a section per protocol, the PROXY version, the target
ports, IPv6 binds), its log parsing, the Dovecot lines about PROXY headers, and (with Docker) that the
expectations it adds fail naming the hop and the parameter."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from harness.kinds import registry
from harness.kinds.base import NodeImage
from harness.kinds.dovecot.log import events_from_log as dovecot_events
from harness.kinds.haproxy import kind as haproxy
from harness.load.scenario import ScenarioError, load_scenario
from harness.plan.topology import plan
from harness.plan.versions import ServerRelease
from tests.conftest import SCENARIOS, WriteScenario
from tests.docker_support import docker_client, has_fail_line, run_scenarios, shipped, write

TWO_PROTOCOLS = """\
description: x
nodes:
  front: {{kind: haproxy, to: proxy{front}}}
  proxy: {{kind: dovecot, role: proxy, to: backend{proxy}}}
  backend: {{kind: dovecot, role: backend}}
clients:
  - {{protocol: imap, to: front}}
  - {{protocol: pop3, to: front}}
  - {{protocol: imap, to: front}}
  - {{protocol: lmtp, to: proxy}}
"""
HAPROXY_ON = ", haproxy: true, haproxy_trusted: [front]"


def render(write_scenario: WriteScenario, front: str = "", proxy: str = HAPROXY_ON, version: str = "2.6.12-1",
           subnet6: str | None = None) -> str:
    scenario = load_scenario(write_scenario(TWO_PROTOCOLS.format(front=front, proxy=proxy)))
    the_plan = plan(scenario, {"dovecot": "2.3.19.1"}, "10.88.0.0/24", subnet6)
    return haproxy.render_config(the_plan.nodes["front"], the_plan, version)


def test_one_section_per_protocol_of_the_sessions_that_reach_it(write_scenario: WriteScenario) -> None:
    config = render(write_scenario)
    assert config.count("\nlisten ") == 2  # imap and pop3 once each; the LMTP session goes to the proxy itself
    assert "listen imap\n    bind 0.0.0.0:143\n    server next 10.88.0.11:10143 send-proxy-v2\n" in config
    assert "listen pop3\n    bind 0.0.0.0:110\n    server next 10.88.0.11:10110 send-proxy-v2\n" in config
    assert "mode tcp" in config and "log stdout format raw local0" in config
    assert "bind 0.0.0.0:8404\n    monitor-uri /ready" in config


@pytest.mark.parametrize(("proxy", "version", "server"), [
    ("v1", "2.6.12-1", "server next 10.88.0.11:10143 send-proxy\n"),
    ("v2", "3.0.11-1", "server next 10.88.0.11:10143 send-proxy-v2\n"),
    ("v2-tlv", "2.6.12-1", "server next 10.88.0.11:10143 send-proxy-v2 proxy-v2-options ssl,unique-id,crc32c\n"),
    ("v2-tlv", "3.0.11-1", "server next 10.88.0.11:10143 send-proxy-v2 proxy-v2-options ssl,unique-id,crc32c "
                           "set-proxy-v2-tlv-fmt(0x02) mail.example.test\n"),
], ids=["v1", "v2", "v2-tlv-2.6", "v2-tlv-3.0"])
def test_send_proxy_variants(write_scenario: WriteScenario, proxy: str, version: str, server: str) -> None:
    assert server in render(write_scenario, front=f", proxy: {proxy}", version=version)


def test_without_a_header_it_goes_to_the_protocols_own_ports(write_scenario: WriteScenario) -> None:
    config = render(write_scenario, front=", proxy: none", proxy="")
    assert "server next 10.88.0.11:143\n" in config and "server next 10.88.0.11:110\n" in config
    assert "send-proxy" not in config


def test_a_header_to_a_node_without_a_proxy_listener_is_refused(write_scenario: WriteScenario) -> None:
    with pytest.raises(ValueError, match="haproxy node `front` sends a PROXY header .* to `proxy`, which takes none "
                                         "for imap: give `proxy` `haproxy: true`"):
        render(write_scenario, proxy="")


def test_ipv6_binds_only_where_the_node_has_an_ipv6_address(write_scenario: WriteScenario) -> None:
    assert ":::143" not in render(write_scenario)
    config = render(write_scenario, subnet6="fd00:88::/64")
    assert "bind 0.0.0.0:143\n    bind :::143 v6only\n" in config  # IPv4 clients stay IPv4 (no v4-mapped)


def test_container_spec_image_and_description(write_scenario: WriteScenario) -> None:
    scenario = load_scenario(write_scenario(TWO_PROTOCOLS.format(front="", proxy=HAPROXY_ON)))
    the_plan = plan(scenario, {"dovecot": "2.4.1"}, "10.88.0.0/24")
    kind = registry.get("haproxy")
    image = NodeImage("img", None, "3.0.11-1+deb13u5")
    spec = kind.container_spec(the_plan.nodes["front"], the_plan, image, {})
    assert spec.command == ("haproxy", "-db", "-f", haproxy.CONFIG_PATH) and spec.address == "10.88.0.10"
    assert kind.recipe(ServerRelease("dovecot", "2.4", "trixie")).suite == "trixie"
    assert kind.recipe(None).suite == "bookworm" and kind.family is None and not kind.is_server
    observed = kind.observe(the_plan.nodes["front"], image, "")
    assert observed.description == "haproxy 3.0.11 (v2)" and not observed.kind_is_server


def test_connection_lines_become_connect_events() -> None:
    line = ("mailhops-connect protocol=imap addr=fd00::1 port=40312 lip=fd00::a lport=143 server_addr=10.1.0.11 "
            "server_port=10143 termination=SD bytes_in=0 bytes_out=0 unique_id=X")
    (event,) = haproxy.events_from_log(f"[NOTICE]   (1) : New worker (8) forked\n{line}\n")
    assert event.kind == "connect" and event.line == line
    assert event.fields["addr"] == "fd00::1" and event.fields["port"] == "40312"
    assert event.fields["server_port"] == "10143" and event.fields["termination"] == "SD"


def test_model_refuses_what_haproxy_does_not_do(write_scenario: WriteScenario) -> None:
    for front, message in [(", trust: [client]", "HAProxy takes no forwarded parameters"),
                           (", authority: x.example", "`authority:` is a TLV of `proxy: v2-tlv`"),
                           (", proxy: v3", "nodes.front.proxy")]:
        with pytest.raises(ScenarioError, match=message):
            load_scenario(write_scenario(TWO_PROTOCOLS.format(front=front, proxy=HAPROXY_ON)))
    without_to = TWO_PROTOCOLS.format(front="", proxy=HAPROXY_ON).replace(", to: proxy}", "}")
    with pytest.raises(ScenarioError, match="nodes.front.to"):
        load_scenario(write_scenario(without_to))


def test_dovecot_refusing_a_header_is_a_proxy_header_event() -> None:
    """The line as Dovecot 2.3.19.1, 2.4.1 and 2.4.5 log it (scenarios/haproxy/untrusted_front)."""
    (event,) = dovecot_events("Dec 01 22:37:00 pop3-login: Warning: haproxy: Client not trusted (rip=10.174.74.10)")
    assert event.kind == "proxy_header"
    assert event.fields == {"service": "pop3", "reason": "Client not trusted", "level": "warning",
                            "rip": "10.174.74.10"}


def test_every_shipped_haproxy_scenario_loads() -> None:
    files = sorted((SCENARIOS / "haproxy").glob("*.yaml"))
    assert len(files) >= 8
    for file in files:
        load_scenario(file, SCENARIOS)


WRONG = "haproxy_wrong"


@pytest.fixture(scope="module")
def wrong_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    """untrusted_front with a wrong HAProxy connection and a wrong refusal expected, on one generation."""
    docker_client()
    folder: Path = tmp_path_factory.mktemp("haproxy")
    data = copy.deepcopy(shipped("haproxy/untrusted_front"))
    data["servers"] = {"dovecot": ["2.3"]}
    data["expect"]["front"]["connect"][0]["server_port"] = 143
    data["expect"]["proxy"]["proxy_header"][1]["rip"] = "@backend"
    write(folder, WRONG, data)
    return run_scenarios(folder)


@pytest.mark.docker
def test_wrong_expectations_fail_naming_hop_and_parameter(wrong_results: dict[str, str | None]) -> None:
    items = {name: text for name, text in wrong_results.items() if name.startswith(f"{WRONG}[")}
    assert items, sorted(wrong_results)
    for item, text in items.items():
        assert text is not None, f"{item} passed, but its expectations were wrong"
        assert has_fail_line(text, "front", "connect[0].server_port"), text
        assert has_fail_line(text, "proxy", "proxy_header[1].rip"), text
