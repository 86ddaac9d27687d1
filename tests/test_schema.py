"""docs/scenario.schema.json: the committed copy is the generated one, every shipped scenario validates against it,
structurally malformed scenarios do not, and where the loader and the schema see the same document they agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.load.json_schema import LOADER_FIELDS, WIDER_INPUTS, main, scenario_schema, schema_text
from harness.load.scenario import Scenario, ScenarioError, load_scenario
from harness.load.yaml_source import load_with_lines
from tests.conftest import ROOT, SCENARIOS, WriteScenario

jsonschema = pytest.importorskip("jsonschema")
COMMITTED = ROOT / "docs" / "scenario.schema.json"
MALFORMED = ROOT / "tests" / "malformed"
STRUCTURAL = ("bad_field_postfix", "port_as_list", "too_many_nodes")
"""The corpus files whose defect is one of shape (an unknown field, a list for a value, 201 nodes); the others are
the loader's own checks (node references, one-line values, field names per kind), which no JSON Schema states."""


def validator() -> Any:
    return jsonschema.Draft202012Validator(scenario_schema())


def errors_of(data: Any) -> list[str]:
    return [f"{'.'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
            for error in validator().iter_errors(data)]


def test_the_committed_schema_is_the_generated_one() -> None:
    assert COMMITTED.is_file(), "regenerate with `mailhops schema --output docs/scenario.schema.json`"
    assert COMMITTED.read_text(encoding="utf-8") == schema_text(), (
        "docs/scenario.schema.json is stale: regenerate with `mailhops schema --output docs/scenario.schema.json`")


def test_it_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(scenario_schema())


def test_main_prints_it_and_writes_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert json.loads(capsys.readouterr().out) == scenario_schema()
    target = tmp_path / "out" / "scenario.schema.json"
    assert main(["--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == schema_text()


SHIPPED = sorted(SCENARIOS.rglob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[path.relative_to(SCENARIOS).as_posix() for path in SHIPPED])
def test_every_shipped_scenario_validates(path: Path) -> None:
    data, _ = load_with_lines(path)
    assert errors_of(data) == []


@pytest.mark.parametrize("name", STRUCTURAL)
def test_structurally_malformed_scenarios_fail_it(name: str) -> None:
    data, _ = load_with_lines(MALFORMED / f"{name}.yaml")
    assert errors_of(data)


BASE = """\
nodes:
  proxy: {kind: dovecot, role: proxy, to: backend, trust: [client]}
  backend: {kind: dovecot, role: backend, trust: [proxy]}
clients:
  - to: proxy
"""
VALID = {
    "minimal": BASE,
    "every_top_level_field": BASE + """\
description: d
servers: {dovecot: ["2.3", "2.4"], postfix: null}
ipv6: true
rollout: true
tiers: {proxies: [proxy], backends: [backend]}
known_issues:
  - {servers: dovecot-2.3, match: "Panic", reason: "one label, not a list"}
  - {servers: [dovecot-2.4], match: "Fatal", reason: r, node: backend}
expect:
  backend:
    login: {rip: "@client", rport: {regex: "\\\\d+"}, session: {dovecot-2.3: a, default: b}}
    forward: [{tenant: acme}, {count: 1}]
""",
    "sessions_of_each_protocol": """\
nodes:
  front: {kind: relay, mode: mutate, protocol: lmtp, to: back, mutate: {drop: [ADDR], ttl_delta: -1, set: {TTL: 9}}}
  back: {kind: dovecot, role: backend, trust: [front], settings: {mail_debug: "yes"}, config: {default: ""}}
  mta: {kind: postfix, master: {"2525/inet": "2525 inet n - n - - smtpd"}}
  edge: {kind: haproxy, to: mta, proxy: none}
  ng: {kind: nginx, to: back, smtp_auth: [plain]}
  cap: {kind: relay, mode: capture, protocol: pop3, advertise: [ADDR], accept_login: true}
clients:
  - {protocol: lmtp, to: front, mail: {from: a@example.test, to: [b@example.net], forward: {tenant: acme}}}
  - {protocol: smtp, to: edge, helo: h, xclient: {ADDR: 203.0.113.7, FORWARD: {tenant: {repeat: a, times: 3}}}}
  - {to: back, login: null, id: {x-originating-ip: 203.0.113.7, x-originating-port: 1}}
  - {protocol: pop3, to: cap, ipv6: false, expect: {greeting: "+OK", login: {one_of: ["+OK", "-ERR"]}}}
""",
}
INVALID = {
    "no_nodes": "clients: [{to: x}]\n",
    "unknown_top_level_field": BASE + "nodez: {}\n",
    "unknown_kind": BASE.replace("kind: dovecot, role: backend", "kind: exim"),
    "node_without_kind": BASE.replace("kind: dovecot, role: backend, ", ""),
    "a_relay_field_on_dovecot": BASE.replace("role: backend", "role: backend, mode: pass"),
    "unknown_protocol": BASE.replace("- to: proxy", "- {to: proxy, protocol: imaps}"),
    "bad_role": BASE.replace("role: backend", "role: director"),
    "node_named_client": BASE.replace("  backend:", "  client:"),
    "node_name_in_capitals": BASE.replace("  backend:", "  Backend:"),
    "unknown_family": BASE + "servers: {exim: ['4.96']}\n",
    "unknown_expect_category": BASE + "expect: {backend: {logn: {rip: x}}}\n",
    "no_clients": BASE.split("clients:")[0] + "clients: []\n",
    "a_list_of_versions_as_a_number": BASE + "servers: {dovecot: 2.3}\n",
}


@pytest.mark.parametrize("name", VALID)
def test_documents_the_loader_takes_validate(name: str, write_scenario: WriteScenario) -> None:
    load_scenario(write_scenario(VALID[name]))
    assert errors_of(yaml.safe_load(VALID[name])) == []


@pytest.mark.parametrize("name", INVALID)
def test_documents_the_loader_refuses_fail_it(name: str, write_scenario: WriteScenario) -> None:
    with pytest.raises(ScenarioError):
        load_scenario(write_scenario(INVALID[name]))
    assert errors_of(yaml.safe_load(INVALID[name]))


def test_the_loader_fields_are_scenario_fields_and_absent_from_the_schema() -> None:
    assert set(LOADER_FIELDS) <= set(Scenario.model_fields)
    properties = scenario_schema()["properties"]
    assert not set(LOADER_FIELDS) & set(properties)
    assert set(properties) == set(Scenario.model_fields) - set(LOADER_FIELDS)


def test_each_node_kind_is_one_branch_told_apart_by_kind() -> None:
    from harness.kinds import registry

    schema = scenario_schema()
    node = schema["properties"]["nodes"]["additionalProperties"]
    assert node["discriminator"]["propertyName"] == "kind"
    assert set(node["discriminator"]["mapping"]) == set(registry.names())
    for name, ref in node["discriminator"]["mapping"].items():
        assert schema["$defs"][ref.rsplit("/", 1)[1]]["properties"]["kind"]["const"] == name


def test_each_wider_input_is_still_taken_by_its_model() -> None:
    """WIDER_INPUTS mirrors `mode="before"` validators: when one goes, its entry must go too."""
    from harness.load import scenario

    samples = {"string": "dovecot-2.3"}
    for (model_name, field), wider in WIDER_INPUTS.items():
        model = getattr(scenario, model_name)
        required = {name: "x" for name, info in model.model_fields.items() if info.is_required() and name != field}
        model.model_validate({**required, field: samples[wider["type"]]})
