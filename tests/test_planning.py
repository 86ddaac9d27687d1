"""Planning and config rendering: addresses, trust lists, chains, forward names, Dovecot configs per version."""

from __future__ import annotations

import pytest

from harness.kinds import registry
from harness.kinds.base import NodeImage
from harness.kinds.dovecot import kind as dovecot
from harness.kinds.dovecot.kind import TemplateMissing, render_config
from harness.kinds.relay import kind as relay
from harness.load.scenario import load_scenario
from harness.plan.topology import plan
from harness.plan.versions import ServerRelease
from tests.conftest import SCENARIOS, WriteScenario


def trusted_front_plan():  # type: ignore[no-untyped-def]
    scenario = load_scenario(SCENARIOS / "imap" / "trusted_front.yaml")
    return plan(scenario, {"dovecot": "2.4.1"}, "10.77.3.0/24")


def test_addresses_are_fixed_before_start() -> None:
    the_plan = trusted_front_plan()
    assert the_plan.client_address == "10.77.3.1"
    assert [n.address for n in the_plan.nodes.values()] == ["10.77.3.10", "10.77.3.11", "10.77.3.12"]
    assert the_plan.nodes["front"].upstream == "10.77.3.11"
    assert the_plan.context.addresses["client"] == "10.77.3.1"


def test_trust_names_become_networks() -> None:
    the_plan = trusted_front_plan()
    assert the_plan.nodes["proxy"].trusted_networks == ("10.77.3.10/32",)
    assert the_plan.nodes["backend"].trusted_networks == ("10.77.3.11/32",)


def test_chains_follow_links_and_stop_at_a_revisit(write_scenario: WriteScenario) -> None:
    assert trusted_front_plan().chains() == [["client", "front", "proxy", "backend"]]
    ring = load_scenario(write_scenario("""\
nodes:
  a: {kind: dovecot, role: proxy, to: b}
  b: {kind: dovecot, role: proxy, to: a}
clients:
  - to: a
"""))
    assert plan(ring, {"dovecot": "2.4.1"}, "10.77.4.0/24").chains() == [["client", "a", "b", "a"]]


def test_forward_names_come_from_injected_and_expected_fields() -> None:
    assert trusted_front_plan().forward_names == ("tenant",)


@pytest.mark.parametrize("major", ["2.3", "2.4"])
def test_dovecot_config_per_version(major: str) -> None:
    the_plan = trusted_front_plan()
    proxy = render_config(the_plan.nodes["proxy"], the_plan, major)
    backend = render_config(the_plan.nodes["backend"], the_plan, major)
    assert "login_trusted_networks = 10.77.3.10/32\n" in proxy
    assert "fwd_tenant=<%{passdb:forward_tenant}>" in proxy
    assert "10.77.3.12" in proxy and "nopassword" in proxy
    assert "password" in backend and "10.77.3.12" not in backend
    if major == "2.3":
        assert "disable_plaintext_auth = no" in proxy and "rip=%r" in proxy and "imap_id_log = *" in proxy
        assert "dovecot_config_version" not in proxy
    else:
        assert proxy.startswith("dovecot_config_version = 2.4.1\n")
        assert "auth_allow_cleartext = yes" in proxy and "rip=%{remote_ip}" in proxy
        assert "imap_id_log" not in proxy


def test_unknown_version_has_no_templates() -> None:
    the_plan = trusted_front_plan()
    with pytest.raises(TemplateMissing, match=r"no Dovecot config templates for 9\.9 \(have: 2\.3, 2\.4\)"):
        render_config(the_plan.nodes["proxy"], the_plan, "9.9")


def test_container_specs() -> None:
    the_plan = trusted_front_plan()
    image = NodeImage("img", ServerRelease("dovecot", "2.4", "trixie"), "2.4.1")
    spec = registry.get("dovecot").container_spec(the_plan.nodes["proxy"], the_plan, image, {"l": "v"})
    assert spec.command == ("dovecot", "-F", "-c", dovecot.CONFIG_PATH) and spec.address == "10.77.3.11"
    assert spec.files[dovecot.CONFIG_PATH].startswith(b"dovecot_config_version")
    config = relay.relay_config(the_plan.nodes["front"])
    assert config["mode"] == "inject" and config["upstream"] == {"host": "10.77.3.11", "port": 143}
    assert config["id"][0] == ["x-originating-ip", "203.0.113.7"]  # type: ignore[index]
    assert config["id"][1] == ["x-originating-port", "51234"]  # type: ignore[index]


def test_trust_by_mask_around_a_node(write_scenario: WriteScenario) -> None:
    scenario = load_scenario(write_scenario("""\
nodes:
  p: {kind: dovecot, role: proxy, to: b, trust: [client/28, b/32, 192.0.2.0/24]}
  b: {kind: dovecot, role: backend, trust: [p/30]}
clients:
  - to: p
"""))
    the_plan = plan(scenario, {"dovecot": "2.4.1"}, "10.77.6.0/24")
    assert the_plan.nodes["p"].trusted_networks == ("10.77.6.0/28", "10.77.6.11/32", "192.0.2.0/24")
    assert the_plan.nodes["b"].trusted_networks == ("10.77.6.8/30",)
