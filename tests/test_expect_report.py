"""Checking and reporting on synthetic observations: a wrong value fails, and the message names hop and field."""

from __future__ import annotations

from harness.check.expect import check_scenario
from harness.load.scenario import load_scenario
from harness.observe.events import ClientTranscript, Event, NodeObservation
from harness.plan.topology import Plan, plan
from harness.report.failure import failure_text
from harness.report.result import RunResult
from tests.conftest import ROOT

GOOD_LOGIN = {"user": "alice", "rip": "203.0.113.7", "rport": "51234", "lip": "10.77.3.11",
              "session": "front-sess-0001"}


def the_plan() -> Plan:
    return plan(load_scenario(ROOT / "tests" / "fixtures" / "trusted_front.yaml"), {"dovecot": "2.4.1"}, "10.77.3.0/24")


def observations(login: dict[str, str], forward: dict[str, str] | None = None) -> dict[str, NodeObservation]:
    proxied = Event("proxied", {"rip": "203.0.113.7", "rport": "51234", "session": "front-sess-0001"})
    backend_events = [Event("login", login), Event("auth", {"real_rip": "10.77.3.11"})]
    if forward is not None:
        backend_events.append(Event("forward", forward))
    return {
        "front": NodeObservation("front", "relay inject (imap)"),
        "proxy": NodeObservation("proxy", "dovecot 2.4.1 proxy", (proxied,), "proxy log line\n"),
        "backend": NodeObservation("backend", "dovecot 2.4.1 backend", tuple(backend_events), "backend log line\n"),
    }


def client_ok() -> tuple[ClientTranscript, ...]:
    return (ClientTranscript(0, "front", ("C: c2 LOGIN", "S: c2 OK"), {"login": "OK", "login_reply": "OK Logged in"}),)


def test_all_expectations_met() -> None:
    p = the_plan()
    verdict = check_scenario(p.scenario, p.context, observations(GOOD_LOGIN, {"tenant": "acme"}), client_ok())
    assert verdict.passed, verdict.failures()
    assert len(verdict.checks) == 3 + 5 + 1 + 1 + 1


def test_wrong_value_fails_and_report_names_hop_field_and_both_values() -> None:
    p = the_plan()
    nodes = observations({**GOOD_LOGIN, "rip": "10.77.3.10"}, {"tenant": "acme"})
    verdict = check_scenario(p.scenario, p.context, nodes, client_ok())
    assert [(f.where, f.category, f.field) for f in verdict.failures()] == [("backend", "login", "rip")]
    text = failure_text(RunResult(p, {"dovecot": "2.4.1"}, verdict, nodes, client_ok(), 1.0), "dovecot-2.4")
    chain = ("chain: client (10.77.3.1) -> front [relay inject imap] (10.77.3.10) -> "
             "proxy [dovecot proxy 2.4.1] (10.77.3.11)")
    assert chain in text
    assert "hop backend [dovecot 2.4.1 backend] 10.77.3.12, received from proxy:" in text
    fail_line = next(line for line in text.splitlines() if line.startswith("  FAIL"))
    assert "login.rip" in fail_line and "expected 203.0.113.7" in fail_line and "observed 10.77.3.10" in fail_line
    assert "(trusted_front.yaml:37)" in fail_line
    assert "--- backend [dovecot 2.4.1 backend] ---\n  backend log line" in text
    assert "      C: c2 LOGIN" in text


def test_missing_observation_fails_as_not_observed() -> None:
    p = the_plan()
    nodes = observations(GOOD_LOGIN, forward=None)
    verdict = check_scenario(p.scenario, p.context, nodes, client_ok())
    (failure,) = verdict.failures()
    assert (failure.where, failure.category, failure.field, failure.observed) == ("backend", "forward", "tenant", None)
    text = failure_text(RunResult(p, {"dovecot": "2.4.1"}, verdict, nodes, client_ok(), 1.0), "dovecot-2.4")
    assert "forward.tenant" in text and "(not observed)" in text


def test_one_event_must_match_every_field() -> None:
    p = the_plan()
    nodes = observations({**GOOD_LOGIN, "session": "other"}, {"tenant": "acme"})
    second = Event("login", {**GOOD_LOGIN, "rip": "10.0.0.9"})
    nodes["backend"] = NodeObservation("backend", "x", nodes["backend"].events + (second,))
    verdict = check_scenario(p.scenario, p.context, nodes, client_ok())
    assert not verdict.passed  # no single login line has both the right rip and the right session


def test_client_reply_is_checked() -> None:
    p = the_plan()
    refused = (ClientTranscript(0, "front", (), {"login": "NO"}),)
    verdict = check_scenario(p.scenario, p.context, observations(GOOD_LOGIN, {"tenant": "acme"}), refused)
    (failure,) = verdict.failures()
    assert (failure.where, failure.field, failure.expected, failure.observed) == ("client[0] -> front", "login",
                                                                                  "OK", "NO")


def test_every_expectation_category_is_checked() -> None:
    """Each category a registered kind can show gives a check (a failing one, against no observation)."""
    from harness.check.expect import check_node
    from harness.check.matchers import Context
    from harness.kinds.registry import categories
    from harness.load.scenario import SCALAR_CATEGORIES, node_expect_model
    from harness.observe.events import NodeObservation

    model = node_expect_model()
    assert set(model.model_fields) == set(categories())
    for category in categories():
        value = "4" if category in SCALAR_CATEGORIES else {"x": "y"}
        checks = check_node("n", model.model_validate({category: value}), Context({}, {}), NodeObservation("n", "d"))
        assert checks and not any(check.ok for check in checks), category
