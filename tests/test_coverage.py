"""The coverage table: generated from the scenarios, complete (no parameter without a scenario), up to date."""

from __future__ import annotations

from harness.load.scenario import load_scenario
from harness.provision.images import labelled_matrix
from harness.report.coverage import SPEC, covers, hop_rows, markdown, sends, table
from tests.conftest import ROOT, SCENARIOS, WriteScenario


def shipped_rows():  # type: ignore[no-untyped-def]
    return table([load_scenario(file) for file in sorted(SCENARIOS.rglob("*.yaml"))], labelled_matrix())


def test_every_spec_parameter_has_a_scenario() -> None:
    empty = [f"{row.protocol} {row.parameter}" for row in shipped_rows() if row.empty]
    assert not empty, f"parameters no scenario sends or expects: {', '.join(empty)}"


def test_every_parameter_is_covered_on_every_version() -> None:
    gaps = [f"{row.protocol} {row.parameter} on {label}" for row in shipped_rows()
            for label, names in row.cells.items() if not names]
    assert not gaps, f"covered on some versions only: {', '.join(gaps)}"


def test_committed_table_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "COVERAGE.md").read_text()
    scenarios = [load_scenario(file) for file in sorted(SCENARIOS.rglob("*.yaml"))]
    assert committed == markdown(shipped_rows(), hop_rows(scenarios)), "run: python -m harness coverage"


def test_every_kind_of_hop_has_a_scenario() -> None:
    hops = hop_rows([load_scenario(file) for file in sorted(SCENARIOS.rglob("*.yaml"))])
    assert {"haproxy", "nginx", "relay", "dovecot", "postfix"} <= set(hops)
    assert all(hops.values()), [kind for kind, names in hops.items() if not names]


def test_rows_are_the_spec() -> None:
    rows = shipped_rows()
    assert [(row.protocol, row.parameter) for row in rows] == [(p, k) for p, keys in SPEC.items() for k in keys]
    assert list(rows[0].cells) == ["dovecot-2.3", "dovecot-2.4.1", "dovecot-2.4.5"]
    smtp = next(row for row in rows if row.protocol == "smtp")
    assert list(smtp.cells) == ["postfix-3.7", "postfix-3.10", "postfix-3.11"]


def test_what_counts_as_covering(write_scenario: WriteScenario) -> None:
    scenario = load_scenario(write_scenario("""\
nodes:
  front: {kind: relay, mode: inject, protocol: lmtp, to: p, xclient: {ADDR: "IPV6:2001:db8::1", PROTO: LMTP},
          rcpt_forward: {t: a}}
  p: {kind: dovecot, role: proxy, to: sink, trust: [front]}
  sink: {kind: relay, mode: capture, protocol: lmtp}
clients:
  - {protocol: lmtp, to: front}
expect:
  sink:
    xclient: {SESSION: x}
    ttl: 4
"""))
    # Only what a hop is checked to have received counts; what is only sent is listed apart.
    assert covers(scenario) == {("lmtp", "SESSION"), ("lmtp", "TTL")}
    assert sends(scenario) == {("lmtp", "ADDR=IPV6:"), ("lmtp", "PROTO=LMTP"), ("lmtp", "FORWARD")}


def test_a_login_line_shows_what_was_forwarded(write_scenario: WriteScenario) -> None:
    scenario = load_scenario(write_scenario("""\
nodes:
  p: {kind: dovecot, role: proxy, to: b, trust: [client]}
  b: {kind: dovecot, role: backend, trust: [p]}
clients:
  - {to: p, id: {x-originating-ip: 203.0.113.7, x-session-id: s}}
  - {protocol: pop3, to: p, xclient: {ADDR: 203.0.113.8}}
expect:
  b:
    login:
      - {service: imap, rip: 203.0.113.7, rport: "1", session: s, fwd_tenant: acme}
      - {service: pop3, rip: 203.0.113.8}
"""))
    assert covers(scenario) == {("imap", "x-originating-ip"), ("imap", "x-originating-port"),
                                ("imap", "x-session-id"), ("imap", "x-forward-<name>"), ("pop3", "ADDR")}


def test_what_postfix_logs_nowhere_counts_by_its_exact_reply(write_scenario: WriteScenario) -> None:
    scenario = load_scenario(write_scenario("""\
nodes:
  pf: {kind: postfix, trust: [client]}
clients:
  - {protocol: smtp, to: pf, xclient: {ADDR: 203.0.113.9, DESTADDR: 198.51.100.25}, expect: {xclient_reply: "220 x"}}
  - {protocol: smtp, to: pf, xclient: {DESTPORT: 25, PROTO: SMTP}, expect: {xclient_reply: {regex: "220.*"}}}
"""))
    assert covers(scenario) == {("smtp", "DESTADDR")}
    assert ("smtp", "DESTPORT") in sends(scenario) and ("smtp", "ADDR") in sends(scenario)
