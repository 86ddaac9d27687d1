"""`harness strength`: each observed hop value perturbed in turn; what no check catches is reported, and the
figure drops when a scenario checks loosely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.__main__ import main
from harness.check.expect import check_scenario
from harness.load.scenario import load_scenario
from harness.observe.events import ClientTranscript, Event, NodeObservation
from harness.plan.topology import plan
from harness.report.record import item_record
from harness.report.record_file import FORMAT
from harness.report.result import RunResult
from harness.report.strength import Report, is_spec_parameter, strength, text
from tests.conftest import WriteScenario

TOPOLOGY = """\
nodes:
  proxy: {kind: dovecot, role: proxy, to: backend, trust: [client]}
  backend: {kind: dovecot, role: backend, trust: [proxy]}
clients:
  - to: proxy
    id: {x-originating-ip: 203.0.113.7, x-originating-port: 51234}
    expect: {login: OK}
"""
LOGIN = {"service": "imap", "user": "alice", "rip": "203.0.113.7", "rport": "51234", "lip": "10.77.3.10",
         "session": "AbCdEfGh12345678"}


def observations(write_scenario: WriteScenario, expect: str, login: dict[str, str] | None = None,
                 outcome: str = "passed") -> dict[str, object]:
    """An observations file of one item of a proxy -> backend scenario with the given `expect:` block."""
    scenario = load_scenario(write_scenario(TOPOLOGY + expect))
    the_plan = plan(scenario, {"dovecot": "2.4.1"}, "10.77.3.0/24")
    nodes = {"proxy": NodeObservation("proxy", "dovecot 2.4.1 proxy"),
             "backend": NodeObservation("backend", "dovecot 2.4.1 backend", (Event("login", login or LOGIN),))}
    clients = (ClientTranscript(0, "proxy", replies={"login": "OK", "login_reply": "OK Logged in"}),)
    verdict = check_scenario(scenario, the_plan.context, nodes, clients)
    result = RunResult(the_plan, {"dovecot": "2.4.1"}, verdict, nodes, clients, 1.0)
    return {"format": FORMAT, "items": [item_record(result, "scenarios/case.yaml::case", "dovecot-2.4", outcome)]}


def pinned_names(report: Report) -> set[str]:
    return {parameter.name for parameter in report.pinned}


def unpinned_names(report: Report) -> dict[str, str]:
    return {parameter.name: how for parameter, how in report.unpinned}


def test_exact_values_pin_their_parameters_and_the_rest_is_reported(write_scenario: WriteScenario) -> None:
    report = strength(observations(write_scenario, """\
expect:
  backend:
    login: {rip: 203.0.113.7, rport: "51234"}
"""))
    assert pinned_names(report) == {"address", "port"} == {p.name for p in report.exact}
    assert unpinned_names(report) == {"local address": "changed", "session": "changed"}
    assert report.share() == 50.0
    (by_version,) = report.by_protocol_version().items()
    assert by_version == (("imap", "dovecot-2.4.1"), (2, 4))


def test_not_x_pins_nothing_and_a_shape_pins_but_not_exactly(write_scenario: WriteScenario) -> None:
    report = strength(observations(write_scenario, """\
expect:
  backend:
    login: {rip: {not: 198.51.100.1}, rport: "51234", lip: "@proxy", session: {regex: "[A-Za-z0-9+/]{16}"}}
"""))
    assert unpinned_names(report) == {"address": "changed"}
    assert pinned_names(report) == {"port", "local address", "session"}
    assert {p.name for p in report.exact} == {"port", "local address"}
    assert "case [dovecot-2.4] backend: address [login.rip] (changed)" in text(report)


def test_a_parameter_counts_once_per_hop_and_is_pinned_where_any_place_it_shows_is_checked(
        write_scenario: WriteScenario) -> None:
    doc = observations(write_scenario, "expect:\n  backend:\n    login: {rip: 203.0.113.7}\n")
    # Dovecot 2.3 logs the ID it received as well as the login line that follows from it.
    doc["items"][0]["nodes"]["backend"]["received"].append(  # type: ignore[index]
        {"kind": "id", "fields": {"x-originating-ip": "203.0.113.7", "x-proxy-ttl": "4"}})
    report = strength(doc)
    (address,) = [p for p in report.pinned if p.name == "address"]
    assert address.shown == ("login.rip", "id.x-originating-ip")
    # The TTL shows only in the logged ID, which a scenario that runs on 2.4 too may not expect: not counted.
    assert "ttl" not in unpinned_names(report)
    assert [p.name for p in report.unassertable] == ["ttl"]
    assert "Not counted: 1 observed where the scenario may expect nothing" in text(report)


def test_an_expectation_that_cannot_fail_is_listed(write_scenario: WriteScenario) -> None:
    report = strength(observations(write_scenario, """\
expect:
  backend:
    login:
      - {rip: 203.0.113.7, rport: "51234", lip: "@proxy", session: AbCdEfGh12345678}
      - {count: {min: 0}}
"""))
    assert report.share() == 100.0
    assert [(c.where, c.category, c.field) for _, c in report.never_failing] == [("backend", "login[1]", "count")]
    assert "backend login[1].count: >= 0" in text(report)


def test_absent_and_count_zero_are_caught_by_adding_what_they_forbid(write_scenario: WriteScenario) -> None:
    report = strength(observations(write_scenario, """\
expect:
  backend:
    login:
      - {rip: 203.0.113.7, rport: "51234", lip: "@proxy", session: AbCdEfGh12345678, fwd_tenant: {absent: true}}
      - {rip: 198.51.100.1, count: 0}
    forward: {tenant: {absent: true}}
"""))
    assert report.never_failing == []


def test_client_replies_that_only_say_present_never_fail_on_perturbation_but_fail_empty(
        write_scenario: WriteScenario) -> None:
    doc = observations(write_scenario, "expect:\n  backend:\n    login: {rip: 203.0.113.7}\n")
    assert strength(doc).never_failing == []


def test_failed_items_are_not_measured_and_a_file_without_context_is_skipped(write_scenario: WriteScenario) -> None:
    failed = observations(write_scenario, "expect:\n  backend:\n    login: {rip: 203.0.113.7}\n", outcome="failed")
    assert strength(failed).items == 0
    old = observations(write_scenario, "expect:\n  backend:\n    login: {rip: 203.0.113.7}\n")
    del old["items"][0]["context"]  # type: ignore[index]
    report = strength(old)
    assert report.items == 0 and "older file" in report.skipped[0][1]


def test_spec_parameters() -> None:
    assert is_spec_parameter("id", "X-Originating-IP") and is_spec_parameter("id", "x-forward-tenant")
    assert not is_spec_parameter("id", "x-client-transport")
    assert is_spec_parameter("xclient", "ADDR") and is_spec_parameter("xclient", "destaddr")
    assert not is_spec_parameter("xclient", "CLIENT-TRANSPORT")
    assert is_spec_parameter("login", "fwd_tenant") and not is_spec_parameter("login", "lport")
    assert is_spec_parameter("ttl", "ttl") and not is_spec_parameter("delivery", "mailbox")


def test_command_prints_the_headline_last_and_fails_below_the_floor(
        write_scenario: WriteScenario, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "obs.json"
    path.write_text(json.dumps(observations(write_scenario, "expect:\n  backend:\n    login: {rip: 203.0.113.7}\n")))
    assert main(["strength", str(path)]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == ("strength: 25.0% of 4 forwarding parameters pinned (1 exactly) in 1 items, "
                    "0 expectations never failing")
    assert main(["strength", str(path), "--min", "100"]) == 1
    assert main(["strength", str(path), "--min", "20"]) == 0


def test_a_count_of_zero_beside_shapes_is_caught_by_an_event_made_to_match_them(
        write_scenario: WriteScenario) -> None:
    report = strength(observations(write_scenario, """\
expect:
  backend:
    login:
      - {rip: 203.0.113.7, rport: "51234", lip: "@proxy", session: AbCdEfGh12345678}
      - {session: {regex: "s{65}"}, fwd_tenant: {present: true}, count: 0}
"""))
    assert report.never_failing == []


@pytest.mark.parametrize("pattern", ["s{65}", "[A-Za-z0-9+/]{16}", "\\d+", "ab(c|d)e?", "bG9uZz13(d3d3){3}d3c="])
def test_an_example_is_made_for_simple_patterns(pattern: str) -> None:
    from harness.check.matchers import Matcher
    from harness.report.strength import example_of

    example = example_of(Matcher("regex", pattern))
    assert example is not None and Matcher("regex", pattern).matches(example)


def test_each_pins_values_whatever_the_count_and_a_count_range_alone_does_not(write_scenario: WriteScenario) -> None:
    loose = strength(observations(write_scenario, """\
expect:
  backend:
    login: {rip: 203.0.113.7, rport: "51234", lip: "@proxy", session: AbCdEfGh12345678, count: {max: 2}}
"""))
    assert set(unpinned_names(loose)) == {"address", "port", "local address", "session"}
    each = strength(observations(write_scenario, """\
expect:
  backend:
    login: {rip: 203.0.113.7, rport: "51234", lip: "@proxy", session: AbCdEfGh12345678, count: {max: 2}, each: true}
"""))
    assert pinned_names(each) == {"address", "port", "local address", "session"} and not each.never_failing


def test_each_with_no_event_observed_can_still_fail(write_scenario: WriteScenario) -> None:
    """An `each` over no events is broken by an added event with a wrong value, and its count by one too many."""
    report = strength(observations(write_scenario, """\
expect:
  proxy:
    proxied: {rip: 203.0.113.7, session: x, count: {max: 2}, each: true}
"""))
    assert not report.never_failing
