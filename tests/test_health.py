"""Server health: crashes fail a scenario unless declared for these versions; a declared crash that does not
happen fails too (strict)."""

from __future__ import annotations

from harness.check.health import check_health
from harness.load.scenario import KnownIssue
from harness.observe.events import NodeObservation

SEGV_23 = ("Nov 25 14:38:20 imap-login: Fatal: master: service(imap-login): child 13 killed with signal 11 "
           "(core dumps disabled - https://dovecot.org/bugreport.html#coredumps)")
ISSUE = KnownIssue(servers=("dovecot-2.3",), node="b", match="killed with signal 11", reason="2.3 segfault")
LABELS_23 = ["dovecot-2.3.19.1", "dovecot-2.3", "dovecot-2"]
LABELS_24 = ["dovecot-2.4.1", "dovecot-2.4", "dovecot-2"]


def nodes(b_log: str) -> dict[str, NodeObservation]:
    return {"a": NodeObservation("a", "dovecot", log="imap-login: Info: fine\n"),
            "b": NodeObservation("b", "dovecot", log=b_log),
            "r": NodeObservation("r", "relay", log="Fatal: relays are not servers\n", kind_is_server=False)}


def test_undeclared_crash_fails() -> None:
    health = check_health(nodes(SEGV_23), [], LABELS_23)
    assert [(c.node, c.line) for c in health.undeclared] == [("b", SEGV_23)]


def test_declared_crash_on_its_version_is_known() -> None:
    health = check_health(nodes(SEGV_23), [ISSUE], LABELS_23)
    assert health.undeclared == () and health.known_seen == (ISSUE,) and health.known_missing == ()


def test_declared_crash_that_stops_happening_is_reported() -> None:
    health = check_health(nodes("imap-login: Error: proxy(alice): Proxying loops to itself\n"), [ISSUE], LABELS_23)
    assert health.known_missing == (ISSUE,)


def test_issue_for_another_version_does_not_apply() -> None:
    health = check_health(nodes(SEGV_23), [ISSUE], LABELS_24)
    assert len(health.undeclared) == 1 and health.known_missing == ()


def test_issue_on_another_node_does_not_explain() -> None:
    other = KnownIssue(servers=("dovecot-2.3",), node="a", match="signal 11", reason="x")
    assert len(check_health(nodes(SEGV_23), [other], LABELS_23).undeclared) == 1


def test_panics_and_postfix_fatals_count_shutdown_does_not() -> None:
    log = ("master: Warning: Killed with signal 15 (by pid=0 uid=0 code=kill)\n"
           "imap: Panic: file mail-user.c: line 5: assertion failed\n"
           "postfix/smtpd[9]: fatal: no SASL authentication mechanisms\n"
           "postfix/master[1]: warning: process /usr/lib/postfix/sbin/smtpd pid 99 killed by signal 11\n")
    assert len(check_health(nodes(log), [], LABELS_24).undeclared) == 3
