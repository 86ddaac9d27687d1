"""The GitHub step summary (markdown, a Mermaid chain per item) and the workflow-command annotations."""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.__main__ import main
from harness.report.summary import (
    MAX_ANNOTATIONS,
    STEP_SUMMARY_LIMIT,
    annotations,
    escape_data,
    escape_property,
    link_label,
    mermaid_chain,
    print_annotations,
    summary_markdown,
    write_step_summary,
)
from tests.test_drift import D23, D24, NEW, OLD, doc, item

ID_23 = {"kind": "id", "fields": {"x-connected-ip": "@proxy", "x-connected-port": "143", "x-forward-tenant": "acme",
                                  "x-originating-ip": "203.0.113.7", "x-originating-port": "51234",
                                  "x-proxy-ttl": "4", "x-session-id": "front-sess-0001"}}
AUTH_24 = {"kind": "auth", "fields": {"lip": "@proxy", "real_rip": "@proxy", "rip": "203.0.113.7", "rport": "51234",
                                      "session": "front-sess-0001", "service": "imap"}}


def node(kind: str, description: str, events: list[dict[str, Any]], to: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "description": description, "to": to, "events": events, "log": []}


def front_chain(label: str, backend_events: list[dict[str, Any]], outcome: str = "passed",
                failures: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return item("imap/trusted_front", label, {"dovecot": D23 if "2.3" in label else D24}, outcome,
                chains=[["client", "front", "proxy", "backend"]],
                nodes={"front": node("relay", "relay inject (imap)", [], "proxy"),
                       "proxy": node("dovecot", "dovecot proxy", [], "backend"),
                       "backend": node("dovecot", "dovecot backend", backend_events)},
                failures=failures or [])


FAILURE = {"where": "backend", "field": "login.rip", "expected": "203.0.113.99", "observed": "203.0.113.7", "line": 35}
FAILING = doc(front_chain("dovecot-2.3", [ID_23], "failed", [FAILURE]), front_chain("dovecot-2.4", [AUTH_24]))


def mermaid_blocks(markdown: str) -> list[str]:
    return re.findall(r"```mermaid\n(.*?)\n```", markdown, flags=re.S)


# --- markdown --------------------------------------------------------------------------------------------------


def test_header_counts_outcomes_and_names_the_server_versions() -> None:
    text = summary_markdown(FAILING)
    assert "**2 item(s)** — ❌ failed: 1 · ✅ passed: 1" in text
    assert f"| dovecot | {D23}, {D24} |" in text


def test_every_item_gets_a_mermaid_flowchart_failures_first() -> None:
    for document in (FAILING, OLD, NEW):
        text = summary_markdown(document)
        blocks = mermaid_blocks(text)
        assert len(blocks) == len(document["items"])
        assert all(block.startswith("flowchart LR\n") for block in blocks)
    text = summary_markdown(FAILING)
    assert text.index("❌ failed: imap/trusted\\_front \\[dovecot-2.3\\]") < text.index(
        "✅ passed: imap/trusted\\_front \\[dovecot-2.4\\]")
    xfailed_first = summary_markdown(OLD)
    assert xfailed_first.index("loops/imap\\_ring\\_2") < xfailed_first.index("imap/trusted\\_front")


def test_the_failing_hop_is_styled_red_and_only_it() -> None:
    failed, passed = mermaid_blocks(summary_markdown(FAILING))
    assert "  class n_backend failed" in failed.splitlines()
    assert re.search(r"classDef failed fill:#ffd7d7,stroke:#d00000", failed)
    assert "failed" not in passed


def test_failures_have_a_collapsible_table_of_expected_and_observed() -> None:
    text = summary_markdown(FAILING)
    details = re.findall(r"<details>.*?</details>", text, flags=re.S)
    assert len(details) == 1
    assert "<summary>1 failing field(s)</summary>" in details[0]
    assert "| backend | `login.rip` | `203.0.113.99` | `203.0.113.7` | trusted\\_front.yaml:35 |" in details[0]


def test_links_are_labelled_with_what_the_next_hop_received() -> None:
    failed, passed = mermaid_blocks(summary_markdown(FAILING))
    assert 'n_proxy -->|"ID<br/>203.0.113.7:51234<br/>session front-sess-0001<br/>ttl 4"| n_backend' in failed
    assert 'n_proxy -->|"auth<br/>203.0.113.7:51234<br/>session front-sess-0001"| n_backend' in passed
    assert "n_client --> n_front" in passed  # the front received nothing forwarded from the client


def test_a_hop_with_two_senders_labels_each_link_with_its_own_event() -> None:
    from_client = {"kind": "auth", "fields": {"real_rip": "@client", "rip": "203.0.113.7", "session": "ring2"}}
    from_b = {"kind": "auth", "fields": {"real_rip": "@b", "rip": "203.0.113.7", "session": "ring2-b"}}
    assert link_label("b", [from_client, from_b], only_sender=False) == "auth<br/>203.0.113.7<br/>session ring2-b"
    assert link_label("client", [from_client, from_b], only_sender=False) == "auth<br/>203.0.113.7<br/>session ring2"
    assert link_label("c", [from_client, from_b], only_sender=False) == ""


def test_a_link_used_by_several_sessions_shows_the_first_and_counts_the_rest() -> None:
    events = [{"kind": "xclient", "fields": {"ADDR": "2001:db8::7", "PORT": "1", "SESSION": "s1", "TTL": "4"}},
              {"kind": "xclient", "fields": {"ADDR": "203.0.113.9", "SESSION": "s2"}},
              {"kind": "xclient", "fields": {"ADDR": "2001:db8::7", "PORT": "1", "SESSION": "s1", "TTL": "4"}},
              {"kind": "ttl", "fields": {"ttl": "4"}}]
    assert link_label("p", events, only_sender=True) == (
        "XCLIENT<br/>[2001:db8::7]:1<br/>session s1<br/>ttl 4<br/>(+1 more)")


def test_labels_escape_what_mermaid_would_read_as_syntax() -> None:
    events = [{"kind": "xclient", "fields": {"ADDR": "@client", "PORT": "<port>", "SESSION": 'a"b#c|d'}}]
    label = link_label("a", events, only_sender=True)
    assert label == "XCLIENT<br/>@client:#lt;port#gt;<br/>session a#quot;b#35;c#124;d"
    odd = item("x/odd", "dovecot-2.4", {"dovecot": D24}, chains=[["client", "end"]],
               nodes={"end": node("dovecot", 'say "hi" <now>', [])})
    lines = mermaid_chain(odd)
    assert '  n_end["end<br/>say #quot;hi#quot; #lt;now#gt;"]' in lines and "  n_client --> n_end" in lines


def test_a_known_crash_is_amber_and_an_undeclared_one_red() -> None:
    ring = next(i for i in OLD["items"] if i["scenario"] == "loops/imap_ring_2")
    assert "  class n_b known" in mermaid_chain(ring)
    crashed = copy.deepcopy(ring)
    crashed["outcome"] = "failed"
    crashed["crashes"] = [dict(c, declared=False) for c in crashed["crashes"]]
    assert "  class n_b failed" in mermaid_chain(crashed)
    assert "4 crash(es)" in summary_markdown(doc(crashed))


def many_failures(items: int, failures: int) -> dict[str, Any]:
    found = []
    for index in range(items):
        each = front_chain("dovecot-2.4", [AUTH_24], "failed",
                           [dict(FAILURE, field=f"login.f{n}", observed="x" * 300) for n in range(failures)])
        each["nodeid"] += f"-{index:04}"
        each["scenario"] = f"imap/case_{index:04}"
        found.append(each)
    return doc(*found)


def test_an_item_shows_at_most_25_failing_fields_and_says_how_many_more() -> None:
    text = summary_markdown(many_failures(1, 40))
    assert text.count("| backend | `login.f") == 25
    assert "*15 more failing field(s) not shown.*" in text


def test_the_summary_stays_under_the_limit_and_says_what_was_cut() -> None:
    big = many_failures(400, 25)
    text = summary_markdown(big)
    assert len(text.encode()) <= STEP_SUMMARY_LIMIT
    match = re.search(r"(\d+) item\(s\) shown without diagram or details, (\d+) item\(s\) left out", text)
    assert match, text[-500:]
    shown = len(mermaid_blocks(text))
    assert 0 < shown < 400 and shown + int(match[1]) + int(match[2]) == 400
    small = summary_markdown(big, limit=20_000)
    assert len(small.encode()) <= 20_000 and "left out" in small


# --- annotations -----------------------------------------------------------------------------------------------


def test_annotations_point_at_the_scenario_line_of_each_failing_field() -> None:
    assert annotations(FAILING) == [
        "::error file=scenarios/imap/trusted_front.yaml,line=35,title=imap/trusted_front [dovecot-2.3]::"
        "backend login.rip: expected 203.0.113.99, observed 203.0.113.7"]
    assert annotations(NEW) == []


def test_annotation_escaping_follows_github() -> None:
    assert escape_data("50% a\r\nb: c, d") == "50%25 a%0D%0Ab: c, d"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    odd = front_chain("dovecot-2.4", [], "failed", [dict(FAILURE, expected="100%\nsure", observed=None)])
    odd["file"] = "scenarios/a,b:c.yaml"
    (line,) = annotations(doc(odd))
    assert line.startswith("::error file=scenarios/a%2Cb%3Ac.yaml,line=35,title=imap/trusted_front [dovecot-2.4]::")
    assert line.endswith("backend login.rip: expected 100%25%0Asure, observed (not observed)")
    assert "\n" not in line


def test_at_most_ten_annotations_then_one_line_saying_how_many_more() -> None:
    lines = annotations(many_failures(3, 5))
    assert len(lines) == MAX_ANNOTATIONS + 1
    assert all(line.startswith("::error ") for line in lines[:MAX_ANNOTATIONS])
    assert lines[-1] == ("::notice title=mailhops::5 more failure(s) not annotated (GitHub shows 10 per step); "
                         "see the step summary")
    assert len(annotations(many_failures(2, 5))) == MAX_ANNOTATIONS


def test_a_failure_without_failing_fields_is_still_annotated() -> None:
    errored = front_chain("dovecot-2.4", [], "failed")
    errored["clients"] = [{"to": "front", "replies": {}, "seconds": {}, "error": "ConnectionError: closed"}]
    assert annotations(doc(errored)) == [
        "::error file=scenarios/imap/trusted_front.yaml,line=1,title=imap/trusted_front [dovecot-2.4]::"
        "client[0] error: ConnectionError: closed"]
    errored["clients"] = []
    assert annotations(doc(errored))[0].endswith("::failed (see the step summary)")


# --- the writers and the command -------------------------------------------------------------------------------


def test_write_step_summary_appends(tmp_path: Path) -> None:
    target = tmp_path / "summary.md"
    target.write_text("# earlier step\n")
    write_step_summary(FAILING, str(target))
    text = target.read_text()
    assert text.startswith("# earlier step\n") and len(mermaid_blocks(text)) == 2
    write_step_summary(FAILING, str(target))
    assert len(mermaid_blocks(target.read_text())) == 4


def test_write_step_summary_keeps_the_whole_file_under_the_limit(tmp_path: Path) -> None:
    target = tmp_path / "summary.md"
    target.write_text("x" * (STEP_SUMMARY_LIMIT - 30_000))
    write_step_summary(many_failures(50, 10), str(target))
    size = target.stat().st_size
    assert STEP_SUMMARY_LIMIT - 30_000 < size <= STEP_SUMMARY_LIMIT
    full = tmp_path / "full.md"
    full.write_text("x" * (STEP_SUMMARY_LIMIT - 100))
    write_step_summary(FAILING, str(full))
    assert full.stat().st_size == STEP_SUMMARY_LIMIT - 100


def test_print_annotations(capsys: pytest.CaptureFixture[str]) -> None:
    print_annotations(FAILING)
    # On a line of its own even after pytest's unfinished progress line ("F   [100%]").
    assert capsys.readouterr().out == "\n" + annotations(FAILING)[0] + "\n"
    stream = io.StringIO()
    print_annotations(many_failures(3, 5), stream)
    assert stream.getvalue().splitlines()[1:] == annotations(many_failures(3, 5))
    print_annotations(NEW)
    assert capsys.readouterr().out == ""


def test_summary_command_with_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(OLD))
    new.write_text(json.dumps(NEW))
    assert main(["summary", str(new)]) == 0
    alone = capsys.readouterr().out
    assert len(mermaid_blocks(alone)) == len(NEW["items"]) and "## Drift" not in alone
    assert main(["summary", str(new), "--drift", str(old)]) == 0
    both = capsys.readouterr().out
    assert both.startswith(alone) and "## Drift" in both and "OK Trusted ID completed." in both.split("## Drift")[1]
