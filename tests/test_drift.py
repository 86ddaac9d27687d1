"""Drift between two observation files: pairing across server versions, what is reported per hop, the command.
The 2.3/2.4 documents are excerpts of real runs (same scenarios on Dovecot 2.3.19.1 and 2.4.1); the last test
runs a scenario twice on one version (needs Docker)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.__main__ import main
from harness.report.drift import (
    Change,
    drift,
    drift_markdown,
    drift_text,
    item_changes,
    label_parts,
    pair_items,
    pairing_key,
    shorten,
)
from harness.report.record import _Normaliser
from harness.report.record_file import FORMAT, load
from tests.conftest import ROOT
from tests.docker_support import docker_client

D23, D24 = "2.3.19.1 (9b53102964)", "2.4.1-4 (7d8c0e5759)"
P37, P310 = "3.7.11", "3.10.13"
CRASH = ("imap-login: Fatal: master: service(imap-login): child <n> killed with signal <n> (core dumps disabled - "
         "https://dovecot.org/bugreport.html#coredumps)")
LOOP_BUG = ('Dovecot 2.3\'s imap-login dereferences NULL right after "Proxying loops to itself" (client_proxy_failed '
            "-> login_proxy_free(&NULL), all 2.3.13-2.3.21.1; fixed in 2.4.0 by 92b12678ff)\n")
TAIL = "rip=203.0.113.7, rport=<n>, lip=@proxy, lport=<n>, session=<front-sess-0001>, fwd_tenant=<acme>"


def item(scenario: str, label: str, servers: dict[str, str], outcome: str = "passed", **parts: Any) -> dict[str, Any]:
    name = scenario.split("/")[-1]
    return {"nodeid": f"scenarios/{scenario}.yaml::{name}[{label}]", "scenario": scenario,
            "file": f"scenarios/{scenario}.yaml", "label": label, "servers": servers, "outcome": outcome,
            "duration_s": 1.0, "chains": parts.get("chains", [["client", "proxy"]]),
            "nodes": parts.get("nodes", {}), "clients": parts.get("clients", []), "failures": parts.get("failures", []),
            "crashes": parts.get("crashes", []), "known_issues": parts.get("known_issues", [])}


def doc(*items: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "items": sorted(items, key=lambda i: i["nodeid"])}


def dovecot(description: str, events: list[dict[str, Any]], log: list[str], to: str | None = None) -> dict[str, Any]:
    return {"kind": "dovecot", "description": description, "to": to, "events": events, "log": log}


def backend_auth(extra: dict[str, str]) -> dict[str, Any]:
    fields = {"forward_fields": "tenant=acme", "lip": "@proxy", "lport": "143", "real_lip": "@backend",
              "real_rip": "@proxy", "real_rport": "<port>", "resp": "<hidden>", "rip": "203.0.113.7",
              "rport": "51234", "secured": "", "service": "imap", "session": "front-sess-0001"}
    return {"kind": "auth", "fields": {**fields, **extra}}


LOGIN_EVENT = {"kind": "login", "fields": {"fwd_tenant": "acme", "lip": "@proxy", "lport": "143", "method": "PLAIN",
                                           "rip": "203.0.113.7", "rport": "51234", "service": "imap",
                                           "session": "front-sess-0001", "user": "alice"}}


def trusted_front(major: str) -> dict[str, Any]:
    version = D23 if major == "2.3" else D24
    wording = "Login:" if major == "2.3" else "Logged in:"
    extra = {} if major == "2.3" else {"final-resp-ok": "", "protocol": "imap"}
    backend = dovecot(f"dovecot {version.split()[0]} backend",
                      [backend_auth(extra), LOGIN_EVENT],
                      [f"imap-login: Info: {wording} user=<alice>, method=PLAIN, {TAIL}"])
    return item("imap/trusted_front", f"dovecot-{major}", {"dovecot": version},
                chains=[["client", "front", "proxy", "backend"]], nodes={"backend": backend})


def ring(major: str) -> dict[str, Any]:
    version = D23 if major == "2.3" else D24
    reply = "OK ID completed." if major == "2.3" else "OK Trusted ID completed."
    b = dovecot(f"dovecot {version.split()[0]} proxy", [], [CRASH] if major == "2.3" else [], to="a")
    return item("loops/imap_ring_2", f"dovecot-{major}", {"dovecot": version},
                "xfailed" if major == "2.3" else "passed", chains=[["client", "a", "b", "a"]], nodes={"b": b},
                clients=[{"to": "a", "replies": {"id": "OK", "id_reply": reply, "login": "NO"}, "seconds": {},
                          "error": None}],
                crashes=[{"node": "b", "line": CRASH, "declared": True}] * 4 if major == "2.3" else [],
                known_issues=[LOOP_BUG] if major == "2.3" else [])


def relay_to_postfix(dovecot_major: str, postfix_major: str) -> dict[str, Any]:
    return item("submission/relay_to_postfix", f"dovecot-{dovecot_major}-postfix-{postfix_major}",
                {"dovecot": D23 if dovecot_major == "2.3" else D24, "postfix": P37 if postfix_major == "3.7" else P310},
                nodes={"pf": {"kind": "postfix", "description": "postfix", "to": None, "events": [],
                              "log": [f"postfix {postfix_major}"]}})


OLD = doc(trusted_front("2.3"), ring("2.3"), relay_to_postfix("2.3", "3.7"), relay_to_postfix("2.3", "3.10"))
NEW = doc(trusted_front("2.4"), ring("2.4"), relay_to_postfix("2.4", "3.7"), relay_to_postfix("2.4", "3.10"))


# --- 2.3 -> 2.4 ------------------------------------------------------------------------------------------------


def test_drift_from_2_3_to_2_4_shows_the_id_reply_the_login_wording_and_the_crash_going_away() -> None:
    text = drift_text(drift(OLD, NEW))
    assert 'client[0] → a id_reply: "OK ID completed." → "OK Trusted ID completed."' in text
    assert f"- backend log: imap-login: Info: Login: user=<alice>, method=PLAIN, {TAIL}" in text
    assert f"+ backend log: imap-login: Info: Logged in: user=<alice>, method=PLAIN, {TAIL}" in text
    assert f"- b crash: ×4 {CRASH}" in text
    assert "~ outcome: xfailed → passed" in text
    assert "- known issue: Dovecot 2.3's imap-login dereferences NULL" in text
    assert "dovecot: 2.3.19.1 (9b53102964) → 2.4.1-4 (7d8c0e5759)" in text
    assert "no drift" not in text


def test_a_changed_event_names_only_the_fields_that_differ() -> None:
    result = drift(OLD, NEW)
    tf = next(i for i in result.items if i.scenario == "imap/trusted_front")
    events = [c for c in tf.changes if c.what.startswith("event")]
    # The login event is identical on both versions; 2.4's auth request has two more fields.
    assert events == [Change("backend", "event auth", "", 'final-resp-ok="" protocol=imap')]


def test_an_event_that_shares_nothing_with_the_other_run_is_shown_whole() -> None:
    old = item("x/y", "dovecot-2.4", {"dovecot": D24},
               nodes={"n": dovecot("d", [{"kind": "drop", "fields": {"reason": "self-loop"}}], [])})
    new = copy.deepcopy(old)
    new["nodes"]["n"]["events"] = [{"kind": "drop", "fields": {"reason": "ttl"}}]
    changes = item_changes(old, new)
    assert changes == (Change("n", "event drop", "reason=self-loop", "reason=ttl"),)
    new["nodes"]["n"]["events"] = [{"kind": "drop", "fields": {"why": "ttl"}}]
    assert item_changes(old, new) == (Change("n", "event drop", "reason=self-loop", None),
                                      Change("n", "event drop", None, "why=ttl"))


def test_drift_against_itself_is_no_drift() -> None:
    for document in (OLD, NEW):
        result = drift(document, copy.deepcopy(document))
        assert result.empty and result.compared == len(document["items"])
        assert drift_text(result).rstrip().endswith("no drift")
        assert "**no drift**" in drift_markdown(result)


def test_timings_are_not_drift() -> None:
    new = copy.deepcopy(OLD)
    for each in new["items"]:
        each["duration_s"] += 3
        for client in each["clients"]:
            client["seconds"] = {"login_seconds": 3.05}
    assert drift(OLD, new).empty


# --- pairing ---------------------------------------------------------------------------------------------------


def test_label_parts() -> None:
    assert label_parts("dovecot-2.3-postfix-3.10") == {"dovecot": "2.3", "postfix": "3.10"}
    assert label_parts("postfix-3.7") == {"postfix": "3.7"}
    assert label_parts("no-version") == {}


def test_pairing_drops_the_label_of_the_family_that_changed_only() -> None:
    assert pairing_key(relay_to_postfix("2.3", "3.7"), ["dovecot"]) == ("submission/relay_to_postfix", "postfix-3.7")
    assert pairing_key(relay_to_postfix("2.3", "3.7"), []) == ("submission/relay_to_postfix",
                                                               "dovecot-2.3-postfix-3.7")
    labels = {(o["label"], n["label"]) for o, n in pair_items(OLD["items"], NEW["items"], ["dovecot"]) if o and n}
    assert labels == {("dovecot-2.3", "dovecot-2.4"), ("dovecot-2.3-postfix-3.7", "dovecot-2.4-postfix-3.7"),
                      ("dovecot-2.3-postfix-3.10", "dovecot-2.4-postfix-3.10")}


def test_the_changed_family_is_found_from_the_files() -> None:
    result = drift(OLD, NEW)
    assert [(f.family, f.changed) for f in result.families] == [("dovecot", True), ("postfix", False)]
    assert result.compared == 4
    # The postfix node's log differs by postfix version in this excerpt: pairing 3.7 with 3.10 would show it.
    assert not any(c.hop == "pf" for i in result.items for c in i.changes)


def test_a_postfix_upgrade_pairs_across_postfix_versions() -> None:
    old = doc(relay_to_postfix("2.4", "3.7"))
    new = doc(relay_to_postfix("2.4", "3.10"))
    result = drift(old, new)
    assert [(f.family, f.changed) for f in result.families] == [("dovecot", False), ("postfix", True)]
    assert [(i.old_label, i.new_label) for i in result.items] == [("dovecot-2.4-postfix-3.7",
                                                                    "dovecot-2.4-postfix-3.10")]
    assert set(result.items[0].changes) == {Change("pf", "log", "postfix 3.7", None),
                                            Change("pf", "log", None, "postfix 3.10")}


def test_when_both_runs_hold_both_versions_of_a_changed_family_equal_labels_pair_first() -> None:
    old = doc(trusted_front("2.3"), trusted_front("2.4"))
    newer = trusted_front("2.4")
    newer["servers"] = {"dovecot": "2.4.2 (abc)"}
    new = doc(newer, trusted_front("2.3"))
    pairs = pair_items(old["items"], new["items"], ["dovecot"])
    assert [(o["label"], n["label"]) for o, n in pairs if o and n] == [("dovecot-2.3", "dovecot-2.3"),
                                                                       ("dovecot-2.4", "dovecot-2.4")]


def test_items_in_one_run_only_are_reported() -> None:
    result = drift(doc(trusted_front("2.3")), doc(trusted_front("2.3"), ring("2.3")))
    assert [(i.scenario, i.old_label, i.new_label) for i in result.items] == [("loops/imap_ring_2", None,
                                                                                "dovecot-2.3")]
    assert "+ item: only in the new run (xfailed)" in drift_text(result)
    gone = drift(doc(trusted_front("2.3"), ring("2.3")), doc(trusted_front("2.3")))
    assert "- item: only in the old run (xfailed)" in drift_text(gone)


def test_crashes_that_appear_are_reported_with_their_count() -> None:
    result = drift(NEW, OLD)
    assert f"+ b crash: ×4 {CRASH}" in drift_text(result)
    fewer = copy.deepcopy(OLD)
    next(i for i in fewer["items"] if i["scenario"] == "loops/imap_ring_2")["crashes"] = [
        {"node": "b", "line": CRASH, "declared": True}]
    assert f"~ b crash: ×4 {CRASH} → {CRASH}" in drift_text(drift(OLD, fewer), width=1000)


# --- rendering -------------------------------------------------------------------------------------------------


def test_long_values_are_cut_in_the_middle() -> None:
    text = "start " + "x" * 300 + " end"
    short = shorten(text, 60)
    assert len(short) == 60 and short.startswith("start ") and short.endswith(" end") and "…" in short
    assert shorten("short", 60) == "short"
    lines = drift_text(drift(OLD, NEW), width=80).splitlines()
    assert all(len(line) < 2 * 80 + 60 for line in lines)


def test_markdown_has_a_table_per_scenario_and_survives_pipes_and_markup() -> None:
    old = item("x/pipes", "dovecot-2.4", {"dovecot": D24},
               clients=[{"to": "p", "replies": {"id_reply": "OK a|b `c`"}, "seconds": {}, "error": None}])
    new = copy.deepcopy(old)
    new["clients"][0]["replies"]["id_reply"] = "OK <b>*d*</b>"
    text = drift_markdown(drift(doc(old), doc(new)))
    row = next(line for line in text.splitlines() if "id\\_reply" in line)
    assert row.count(" | ") == 4, row  # five cells: the pipe in the value is escaped
    assert '``"OK a\\|b `c`"``' in row
    assert "### x/pipes \\[dovecot-2.4\\]" in text
    both = drift_markdown(drift(OLD, NEW))
    assert both.count("\n### ") == 2 and "| ~ | client\\[0\\] → a | id\\_reply |" in both


def test_markdown_is_cut_to_its_limit_and_says_so() -> None:
    many = [ring("2.3") for _ in range(60)]
    for index, each in enumerate(many):
        each["scenario"] = f"loops/ring_{index:02}"
        each["nodeid"] += str(index)
    newer = [copy.deepcopy(each) for each in many]
    for each in newer:
        each["nodes"]["b"]["log"] = [f"line {n}" for n in range(100)]
    text = drift_markdown(drift(doc(*many), doc(*newer)), limit=20_000)
    assert len(text.encode()) <= 20_000
    assert "more change(s) not shown" in text and "more drifted item(s) not shown" in text


# --- the command -----------------------------------------------------------------------------------------------


def write_json(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_drift_command_prints_the_report_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = write_json(tmp_path / "old.json", OLD), write_json(tmp_path / "new.json", NEW)
    assert main(["drift", str(old), str(new)]) == 0
    assert '"OK Trusted ID completed."' in capsys.readouterr().out
    assert main(["drift", str(old), str(new), "--markdown"]) == 0
    assert "| ~ | client\\[0\\] → a | id\\_reply |" in capsys.readouterr().out
    assert main(["drift", str(old), str(old)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("no drift")


def test_drift_command_refuses_a_file_that_is_not_observations(tmp_path: Path) -> None:
    bad = write_json(tmp_path / "bad.json", {"items": []})
    with pytest.raises(ValueError, match="not a mailhops observations file"):
        main(["drift", str(bad), str(bad)])


# --- two runs of one version (Docker) --------------------------------------------------------------------------

def normaliser() -> _Normaliser:
    return _Normaliser({"10.9.0.11": "@proxy"}, "given-session", {"9Na5jRthfJoK8YcB"})


def test_what_varies_between_two_runs_of_one_version_is_normalised_at_the_source() -> None:
    norm = normaliser()
    # Dovecot's mail-process prefix: the pid, and the session id the server made.
    assert norm.log_line("imap(alice)<14><9Na5jRthfJoK8YcB>: Info: Logged out") == \
        norm.log_line("imap(alice)<15><YD/lphthmscKyIMB>: Info: Logged out") == \
        "imap(alice)<pid><<session>>: Info: Logged out"
    # A race of two sockets after LOGOUT, not a behaviour.
    assert norm.log_line("proxy(alice,10.9.0.11:143): Disconnected by client (0s idle, in=9, out=469)") == \
        norm.log_line("proxy(alice,10.9.0.11:143): Disconnected by server (1s idle, in=9, out=470)")
    # A session id the server made, in a 2.3 `ID sent:` line.
    assert norm.log_line("ID sent: x-session-id=9Na5jRthfJoK8YcB, rip=203.0.113.7") == \
        "ID sent: x-session-id=<session>, rip=203.0.113.7"
    # What the scenario gave is kept: it is what the hop must show.
    assert "given-session" in norm.log_line("session=<given-session>")
    assert norm.log_line("Disconnected: Logged out") == "Disconnected: Logged out"
    # Dovecot's timing of a command; the third term (waiting to write the reply) only when it was not zero.
    assert norm.reply("OK Logout completed (0.001 + 0.000 secs).") == \
        norm.reply("OK Logout completed (0.001 + 0.000 + 0.003 secs).") == "OK Logout completed (<timing> secs)."


def run_observed(tmp_path: Path, name: str, scenarios: Path) -> dict[str, Any]:
    out = tmp_path / f"{name}.json"
    result = subprocess.run([sys.executable, "-m", "pytest", str(scenarios), "--dovecot", "2.4.1", "-q", "-n", "2",
                             "-p", "no:cacheprovider", f"--observations={out}"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, check=False,
                            env={k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"})
    observed = load(out) if out.exists() else {"items": []}
    outcomes = [i["outcome"] for i in observed["items"]]
    assert outcomes == ["passed"] * len(DRIFT_SCENARIOS), result.stdout[-3000:] + result.stderr[-3000:]
    return observed


DRIFT_SCENARIOS = sorted((ROOT / "tests" / "drift_scenarios").glob("*.yaml"))
"""One small chain per protocol; copied under a `scenarios/` folder to be collected."""


@pytest.mark.docker
def test_docker_runs_of_one_version_do_not_drift_on_any_protocol(tmp_path: Path) -> None:
    docker_client()
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for file in DRIFT_SCENARIOS:
        (folder / file.name).write_text(file.read_text())
    assert [file.stem for file in DRIFT_SCENARIOS] == ["imap", "lmtp", "pop3", "submission"]
    runs = [run_observed(tmp_path, f"run{n}", folder) for n in range(3)]
    for n, (before, after) in enumerate(zip(runs, runs[1:], strict=False)):
        result = drift(before, after)
        assert not result.items, f"runs {n} and {n + 1} of one version drifted:\n" + drift_text(result, width=400)


# --- shards of one run ------------------------------------------------------------------------------------------

def test_shards_merge_into_one_file_that_drifts_like_the_whole_run(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    first = write_json(tmp_path / "shard-1.json", doc(trusted_front("2.4"), relay_to_postfix("2.4", "3.7")))
    second = write_json(tmp_path / "shard-2.json", doc(ring("2.4"), relay_to_postfix("2.4", "3.10")))
    merged = tmp_path / "merged.json"
    assert main(["merge", str(merged), str(first), str(second)]) == 0
    assert "4 items from 2 file(s)" in capsys.readouterr().out
    assert load(merged) == NEW
    assert not drift(NEW, load(merged)).items
    with pytest.raises(ValueError, match="more than one of the files"):
        main(["merge", str(merged), str(first), str(first)])
