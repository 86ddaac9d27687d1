"""A run's observations (`--observations`) as a GitHub step summary (markdown with a Mermaid chain per item) and as
workflow-command annotations on the failing scenario lines. The rendering is pure; two small writers do the I/O."""

from __future__ import annotations

import itertools
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from harness.report.drift import markdown_code, markdown_text, shorten

Doc = Mapping[str, Any]
Item = Mapping[str, Any]

STEP_SUMMARY_LIMIT = 1024 * 1024
"""GitHub refuses a step summary larger than 1 MiB (and shows none of it)."""
MAX_ANNOTATIONS = 10
"""GitHub shows at most 10 error annotations per step and drops the rest."""
FAILURE_ROWS_PER_ITEM = 25
LABEL_VALUE_WIDTH = 32
_OUTCOME_ORDER = {"failed": 0, "xfailed": 1, "passed": 2}
_VERDICT = {"failed": "❌ failed", "xfailed": "⚠️ known issue", "passed": "✅ passed"}
_CARRIERS = ("id", "xclient", "auth", "login", "proxied", "client")
"""Event kinds that show what a hop received from the previous one, the most telling first."""
_LINK_FIELDS = {
    "ip": ("x-originating-ip", "ADDR", "rip", "addr"),
    "port": ("x-originating-port", "PORT", "rport", "port"),
    "session": ("x-session-id", "SESSION", "session"),
    "ttl": ("x-proxy-ttl", "TTL"),
}
_SENDER_FIELDS = ("real_rip", "x-connected-ip")
_RESERVE = 512
"""Bytes kept back for the closing note about what was cut."""


# --- the step summary ------------------------------------------------------------------------------------------


def summary_markdown(doc: Doc, limit: int = STEP_SUMMARY_LIMIT) -> str:
    """Totals and server versions, then every item, failures first: verdict, chain diagram, failing fields.
    Stays under `limit` bytes: items that do not fit lose their diagram, then are left out, and the end says so."""
    items = sorted(doc["items"], key=lambda item: (_OUTCOME_ORDER.get(item["outcome"], 0), item["nodeid"]))
    out = _header(items)
    compact = omitted = 0
    for item in items:
        full = _item_markdown(item)
        if _size(out + full) <= limit - _RESERVE:
            out += full
            continue
        short = _item_heading(item) + "\n\n"
        if _size(out + short) <= limit - _RESERVE:
            out += short
            compact += 1
        else:
            omitted += 1
    if compact or omitted:
        out += (f"\n*Cut to stay under GitHub's {limit // 1024} KiB step-summary limit: {compact} item(s) shown "
                f"without diagram or details, {omitted} item(s) left out. The observations artifact has all.*\n")
    return out


def _size(text: str) -> int:
    return len(text.encode())


def _header(items: Sequence[Item]) -> str:
    counts = Counter(item["outcome"] for item in items)
    totals = " · ".join(f"{_VERDICT.get(outcome, outcome)}: {counts[outcome]}"
                        for outcome in sorted(counts, key=lambda o: _OUTCOME_ORDER.get(o, 0)))
    versions: dict[str, set[str]] = {}
    for item in items:
        for family, version in item.get("servers", {}).items():
            versions.setdefault(family, set()).add(version)
    lines = ["# mailhops interop", "", f"**{len(items)} item(s)** — {totals or 'nothing ran'}", ""]
    if versions:
        lines += ["| server | version(s) |", "|---|---|"]
        lines += [f"| {family} | {markdown_text(', '.join(sorted(found)))} |"
                  for family, found in sorted(versions.items())]
        lines.append("")
    return "\n".join(lines) + "\n"


def _item_heading(item: Item) -> str:
    return (f"### {_VERDICT.get(item['outcome'], item['outcome'])}: "
            f"{markdown_text(item['scenario'])} \\[{markdown_text(item['label'])}\\]")


def _item_markdown(item: Item) -> str:
    servers = ", ".join(f"{family} {version}" for family, version in item.get("servers", {}).items())
    lines = [_item_heading(item), "",
             f"{markdown_code(item['file'])} · {markdown_text(servers) or 'no server'} · "
             f"{item.get('duration_s', 0)} s", ""]
    lines += [f"> known issue: {markdown_text(reason)}" for reason in item.get("known_issues", ())]
    if item.get("known_issues"):
        lines.append("")
    lines += ["```mermaid", *mermaid_chain(item), "```", ""]
    lines += _details(item)
    return "\n".join(lines) + "\n"


def _details(item: Item) -> list[str]:
    failures = item.get("failures", [])
    crashes = [crash for crash in item.get("crashes", []) if not crash.get("declared")]
    errors = [(index, client["error"]) for index, client in enumerate(item.get("clients", [])) if client.get("error")]
    if item["outcome"] != "failed" or not (failures or crashes or errors):
        return []
    parts = [f"{len(failures)} failing field(s)"] if failures else []
    parts += [f"{len(crashes)} crash(es)"] if crashes else []
    parts += [f"{len(errors)} client error(s)"] if errors else []
    lines = [f"<details><summary>{', '.join(parts)}</summary>", ""]
    if failures:
        lines += ["| hop | field | expected | observed | line |", "|---|---|---|---|---|"]
        file_name = Path(item["file"]).name
        for failure in failures[:FAILURE_ROWS_PER_ITEM]:
            observed = failure["observed"]
            lines.append(f"| {markdown_text(failure['where'])} | {markdown_code(failure['field'])} | "
                         f"{markdown_code(shorten(str(failure['expected']), 200))} | "
                         f"{'(not observed)' if observed is None else markdown_code(shorten(str(observed), 200))} | "
                         f"{markdown_text(file_name)}:{failure['line']} |")
        if len(failures) > FAILURE_ROWS_PER_ITEM:
            lines.append(f"\n*{len(failures) - FAILURE_ROWS_PER_ITEM} more failing field(s) not shown.*")
        lines.append("")
    lines += [f"- crash on {markdown_text(crash['node'])}: {markdown_code(shorten(crash['line'], 300))}"
              for crash in crashes]
    lines += [f"- client\\[{index}\\] error: {markdown_code(shorten(error, 300))}" for index, error in errors]
    return [*lines, "", "</details>", ""]


# --- the chain diagram -----------------------------------------------------------------------------------------


def mermaid_chain(item: Item) -> list[str]:
    """`flowchart LR` lines: each hop with its description, each link labelled with what the receiving hop was
    given (address, port, session, TTL), failing hops red and hops with a known crash amber."""
    nodes: Mapping[str, Mapping[str, Any]] = item.get("nodes", {})
    links = list(dict.fromkeys((a, b) for chain in item.get("chains", [])
                               for a, b in itertools.pairwise(chain)))
    names = list(dict.fromkeys([*(name for link in links for name in link), *nodes]))
    lines = ["flowchart LR"]
    for name in names:
        if name in nodes:
            lines.append(f'  {_node_id(name)}["{_mermaid_text(name)}<br/>'
                         f'{_mermaid_text(nodes[name].get("description", ""))}"]')
        else:
            lines.append(f'  {_node_id(name)}(["{_mermaid_text(name)}"])')
    senders: dict[str, set[str]] = {}
    for sender, receiver in links:
        senders.setdefault(receiver, set()).add(sender)
    for sender, receiver in links:
        label = link_label(sender, nodes.get(receiver, {}).get("events", []), len(senders[receiver]) == 1)
        arrow = f'-->|"{label}"|' if label else "-->"
        lines.append(f"  {_node_id(sender)} {arrow} {_node_id(receiver)}")
    failed = _failed_hops(item, names)
    known = {c["node"] for c in item.get("crashes", []) if c.get("declared")} - failed
    if failed:
        lines += ["  classDef failed fill:#ffd7d7,stroke:#d00000,stroke-width:3px,color:#000",
                  f"  class {','.join(_node_id(name) for name in names if name in failed)} failed"]
    if known & set(names):
        lines += ["  classDef known fill:#fff1cc,stroke:#b07800,stroke-width:2px,color:#000",
                  f"  class {','.join(_node_id(name) for name in names if name in known)} known"]
    return lines


def _failed_hops(item: Item, names: Sequence[str]) -> set[str]:
    places = {failure["where"] for failure in item.get("failures", [])}
    places |= {crash["node"] for crash in item.get("crashes", []) if not crash.get("declared")}
    if any(place.startswith("client[") for place in places) or any(c.get("error") for c in item.get("clients", [])):
        places.add("client")
    return places & set(names)


def link_label(sender: str, events: Sequence[Mapping[str, Any]], only_sender: bool) -> str:
    """What the receiver got over this link, from its most telling event kind: `ID 203.0.113.7:51234`,
    `session s1`, `ttl 4`. An event is this link's if it names the sender (`real_rip`, `x-connected-ip`), or
    if the receiver has no other sender."""
    def from_sender(event: Mapping[str, Any]) -> bool:
        # A forwarded x-connected-ip may be any address; only a node name (`@a`) identifies the sender.
        named = [event["fields"][key] for key in _SENDER_FIELDS if event["fields"].get(key, "").startswith("@")]
        return named[0] == f"@{sender}" if named else only_sender

    mine = [event for event in events if from_sender(event)]
    for kind in _CARRIERS:
        values = [v for v in dict.fromkeys(_link_values(e["fields"]) for e in mine if e["kind"] == kind) if v]
        if values:
            ttl = {e["fields"]["ttl"] for e in mine if e["kind"] == "ttl"} if only_sender else set()
            return _label_text(kind, {**({"ttl": ttl.pop()} if len(ttl) == 1 else {}), **dict(values[0])},
                               len(values) - 1)
    return ""


def _label_text(kind: str, values: Mapping[str, str], more: int) -> str:
    parts = [kind.upper() if kind in ("id", "xclient") else kind]
    ip = values.get("ip", "")
    if ":" in ip and "port" in values:
        ip = f"[{ip}]"
    if ip or "port" in values:
        parts.append(":".join(value for value in (ip, values.get("port")) if value))
    parts += [f"{key} {values[key]}" for key in ("session", "ttl") if key in values]
    return "<br/>".join([*(_mermaid_text(shorten(part, LABEL_VALUE_WIDTH)) for part in parts),
                         *([f"(+{more} more)"] if more else [])])


def _link_values(fields: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    found = []
    for short, keys in _LINK_FIELDS.items():
        value = next((fields[key] for key in keys if key in fields), None)
        if value is not None:
            found.append((short, value))
    return tuple(found)


def _node_id(name: str) -> str:
    # Prefixed, so a node named `end` or `graph` cannot clash with Mermaid's keywords.
    return "n_" + "".join(ch if ch.isalnum() else "_" for ch in name)


def _mermaid_text(text: str) -> str:
    """Text inside a quoted Mermaid label: entity codes for what Mermaid or its HTML would take as syntax."""
    for raw, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("`", "#96;"), ("|", "#124;")):
        text = text.replace(raw, code)
    return text


# --- annotations -----------------------------------------------------------------------------------------------


def annotations(doc: Doc) -> list[str]:
    """`::error` workflow commands on the scenario line of each failing field (crash, client error), at most
    MAX_ANNOTATIONS, then one `::notice` saying how many were left out."""
    found = []
    for item in doc["items"]:
        if item["outcome"] != "failed":
            continue
        title = f"{item['scenario']} [{item['label']}]"
        messages = [(f["line"], _failure_message(f)) for f in item.get("failures", [])]
        messages += [(1, f"{c['node']} crashed: {c['line']}") for c in item.get("crashes", []) if not c.get("declared")]
        messages += [(1, f"client[{i}] error: {c['error']}") for i, c in enumerate(item.get("clients", []))
                     if c.get("error")]
        if not messages:
            messages = [(1, "failed (see the step summary)")]
        found += [_command("error", {"file": item["file"], "line": str(line), "title": title}, message)
                  for line, message in messages]
    if len(found) <= MAX_ANNOTATIONS:
        return found
    left = len(found) - MAX_ANNOTATIONS
    return [*found[:MAX_ANNOTATIONS],
            _command("notice", {"title": "mailhops"},
                     f"{left} more failure(s) not annotated (GitHub shows {MAX_ANNOTATIONS} per step); "
                     f"see the step summary")]


def _failure_message(failure: Mapping[str, Any]) -> str:
    observed = "(not observed)" if failure["observed"] is None else failure["observed"]
    return f"{failure['where']} {failure['field']}: expected {failure['expected']}, observed {observed}"


def _command(name: str, properties: Mapping[str, str], message: str) -> str:
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{name} {props}::{escape_data(message)}"


def escape_data(text: str) -> str:
    """As GitHub's toolkit escapes a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """As GitHub's toolkit escapes a workflow command's property value: also `:` and `,`."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


# --- the writers -----------------------------------------------------------------------------------------------


def write_step_summary(doc: Doc, path: str) -> None:
    """Append the summary to GitHub's step-summary file, within what is left of the step's 1 MiB."""
    target = Path(path)
    left = STEP_SUMMARY_LIMIT - (target.stat().st_size if target.exists() else 0)
    if left < 4 * _RESERVE:
        # GitHub drops a summary over the limit whole: adding anything would lose what is already there.
        return
    text = summary_markdown(doc, limit=left)
    with target.open("a", encoding="utf-8") as out:
        out.write(text)


def print_annotations(doc: Doc, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    lines = annotations(doc)
    if lines:
        # GitHub reads a command only at the start of a line, and pytest may have left its progress line open.
        print(file=out)
    for line in lines:
        print(line, file=out)
