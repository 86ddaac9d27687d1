"""What changed between two observation files (`--observations`), scenario by scenario and hop by hop, whether or
not an expectation failed: events, client replies, log lines, crashes, outcomes. Pure: documents in, text out."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Doc = Mapping[str, Any]
Item = Mapping[str, Any]

APPEARED, GONE, CHANGED = "+", "-", "~"
TEXT_WIDTH = 160
MARKDOWN_ROWS_PER_ITEM = 40
_LABEL_PART = re.compile(r"([a-z][a-z0-9_]*)-(\d+(?:\.\d+)*)")


@dataclass(frozen=True)
class Change:
    """One difference at one place. `old is None`: it appeared; `new is None`: it went away."""

    hop: str
    """A node name, `client[i] → node` for a client session, or "" for the item itself."""
    what: str
    old: str | None
    new: str | None

    @property
    def mark(self) -> str:
        return APPEARED if self.old is None else GONE if self.new is None else CHANGED


@dataclass(frozen=True)
class ItemDrift:
    scenario: str
    old_label: str | None
    new_label: str | None
    changes: tuple[Change, ...]

    @property
    def title(self) -> str:
        if self.old_label == self.new_label:
            return f"{self.scenario} [{self.old_label}]"
        return f"{self.scenario} [{self.old_label or 'absent'} → {self.new_label or 'absent'}]"


@dataclass(frozen=True)
class FamilyVersions:
    family: str
    old: tuple[str, ...]
    new: tuple[str, ...]

    @property
    def changed(self) -> bool:
        # A family that only one run used cannot tell its items apart: keep its label in the pairing key.
        return bool(self.old) and bool(self.new) and self.old != self.new


@dataclass(frozen=True)
class Drift:
    families: tuple[FamilyVersions, ...]
    compared: int
    """Items present in both runs."""
    items: tuple[ItemDrift, ...]
    """Only the items with at least one change (including items present in one run only)."""

    @property
    def empty(self) -> bool:
        return not self.items


# --- pairing ---------------------------------------------------------------------------------------------------


def label_parts(label: str) -> dict[str, str]:
    """`<family>-2.3-<other>-3.10` -> {<family>: "2.3", <other>: "3.10"}; {} for `no-version`."""
    return dict(_LABEL_PART.findall(label))


def family_versions(old: Doc, new: Doc) -> tuple[FamilyVersions, ...]:
    def versions(doc: Doc) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for item in doc["items"]:
            for family, version in item.get("servers", {}).items():
                found.setdefault(family, set()).add(version)
        return found

    before, after = versions(old), versions(new)
    return tuple(FamilyVersions(family, tuple(sorted(before.get(family, ()))), tuple(sorted(after.get(family, ()))))
                 for family in sorted(before.keys() | after.keys()))


def pairing_key(item: Item, changed: Iterable[str]) -> tuple[str, str]:
    """The scenario and the label parts of the families whose versions did not change."""
    skip = set(changed)
    parts = label_parts(item["label"])
    kept = "-".join(f"{family}-{major}" for family, major in parts.items() if family not in skip)
    return item["scenario"], kept if parts else item["label"]


def pair_items(old_items: Sequence[Item], new_items: Sequence[Item],
               changed: Iterable[str]) -> list[tuple[Item | None, Item | None]]:
    """Old and new items of the same scenario and unchanged-family labels, in old-run order, then new-only items.
    Within one key (a changed family both runs hold several versions of) equal labels pair first."""
    changed = tuple(changed)
    waiting: dict[tuple[str, str], list[Item]] = {}
    for item in new_items:
        waiting.setdefault(pairing_key(item, changed), []).append(item)
    pairs: list[tuple[Item | None, Item | None]] = []
    for item in old_items:
        candidates = waiting.get(pairing_key(item, changed), [])
        match = next((c for c in candidates if c["label"] == item["label"]), candidates[0] if candidates else None)
        if match is not None:
            candidates.remove(match)
        pairs.append((item, match))
    pairs += [(None, item) for items in waiting.values() for item in items]
    return pairs


# --- comparing one pair ----------------------------------------------------------------------------------------


def drift(old: Doc, new: Doc) -> Drift:
    families = family_versions(old, new)
    changed = [f.family for f in families if f.changed]
    items = []
    compared = 0
    for before, after in pair_items(old["items"], new["items"], changed):
        compared += before is not None and after is not None
        changes = item_changes(before, after)
        if changes:
            scenario = (before or after or {}).get("scenario", "?")
            items.append(ItemDrift(scenario, before and before["label"], after and after["label"], changes))
    return Drift(families, compared, tuple(items))


def item_changes(old: Item | None, new: Item | None) -> tuple[Change, ...]:
    if old is None or new is None:
        present = old or new or {}
        side = "old" if new is None else "new"
        text = f"only in the {side} run ({present.get('outcome', '?')})"
        return (Change("", "item", None if old is None else text, None if new is None else text),)
    changes = _value_change("", "outcome", old["outcome"], new["outcome"])
    changes += _value_change("", "chains", _chains_text(old), _chains_text(new))
    changes += _set_changes("", "known issue", Counter(map(_one_line, old.get("known_issues", ()))),
                            Counter(map(_one_line, new.get("known_issues", ()))))
    changes += _client_changes(old.get("clients", []), new.get("clients", []))
    for name in _node_order(old, new):
        changes += _node_changes(name, old["nodes"].get(name), new["nodes"].get(name))
        changes += _set_changes(name, "failure", _failures(old, name), _failures(new, name))
        changes += _set_changes(name, "crash", _crashes(old, name), _crashes(new, name))
    for place in sorted({f["where"] for f in [*old.get("failures", ()), *new.get("failures", ())]} - _nodes(old, new)):
        changes += _set_changes(place, "failure", _failures(old, place), _failures(new, place))
    return tuple(changes)


def _nodes(old: Item, new: Item) -> set[str]:
    return set(old["nodes"]) | set(new["nodes"])


def _node_order(old: Item, new: Item) -> list[str]:
    in_chains = [name for item in (old, new) for chain in item.get("chains", []) for name in chain]
    return list(dict.fromkeys(name for name in [*in_chains, *sorted(_nodes(old, new))] if name in _nodes(old, new)))


def _chains_text(item: Item) -> str:
    return "; ".join(" → ".join(chain) for chain in item.get("chains", []))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _failures(item: Item, where: str) -> Counter[str]:
    return Counter(f"{f['field']}: expected {f['expected']}, observed {f['observed']}"
                   for f in item.get("failures", ()) if f["where"] == where)


def _crashes(item: Item, node: str) -> Counter[str]:
    return Counter(c["line"] for c in item.get("crashes", ()) if c["node"] == node)


def _value_change(hop: str, what: str, old: str | None, new: str | None) -> list[Change]:
    return [] if old == new else [Change(hop, what, old, new)]


def _set_changes(hop: str, what: str, old: Counter[str], new: Counter[str]) -> list[Change]:
    changes = []
    for value in sorted(old.keys() | new.keys()):
        before, after = old[value], new[value]
        if before == after:
            continue
        if before and after:
            changes.append(Change(hop, what, f"{_times(before)}{value}", f"{_times(after)}{value}"))
        else:
            changes.append(Change(hop, what, f"{_times(before)}{value}" if before else None,
                                  f"{_times(after)}{value}" if after else None))
    return changes


def _times(count: int) -> str:
    return f"×{count} " if count > 1 else ""


def _client_changes(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> list[Change]:
    changes = []
    for index in range(max(len(old), len(new))):
        before = old[index] if index < len(old) else None
        after = new[index] if index < len(new) else None
        hop = f"client[{index}] → {(before or after or {}).get('to', '?')}"
        if before is None or after is None:
            changes.append(Change(hop, "session", None if before is None else "present",
                                  None if after is None else "present"))
            continue
        replies_before, replies_after = before.get("replies", {}), after.get("replies", {})
        for step in sorted(replies_before.keys() | replies_after.keys(), key=_step_order(replies_before,
                                                                                          replies_after)):
            changes += _value_change(hop, step, _quoted(replies_before.get(step)), _quoted(replies_after.get(step)))
        changes += _value_change(hop, "error", _quoted(before.get("error")), _quoted(after.get("error")))
    return changes


def _step_order(*replies: Mapping[str, str]) -> Any:
    order = {step: index for index, step in enumerate(dict.fromkeys(s for r in replies for s in r))}
    return order.__getitem__


def _quoted(value: str | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _node_changes(name: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[Change]:
    if old is None or new is None:
        present = old or new or {}
        text = f"{present.get('kind', '?')} node"
        return [Change(name, "node", None if old is None else text, None if new is None else text)]
    changes = _value_change(name, "kind", old.get("kind"), new.get("kind"))
    changes += _value_change(name, "to", old.get("to"), new.get("to"))
    changes += _event_changes(name, old.get("events", []), new.get("events", []))
    changes += _set_changes(name, "log", Counter(old.get("log", ())), Counter(new.get("log", ())))
    return changes


def _event_changes(node: str, old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> list[Change]:
    """Events that differ, by kind; an old and a new event of a kind that share fields are shown as one change
    naming only the fields that differ."""
    def keyed(events: Sequence[Mapping[str, Any]]) -> Counter[tuple[str, tuple[tuple[str, str], ...]]]:
        return Counter((e["kind"], tuple(sorted(e["fields"].items()))) for e in events)

    before, after = keyed(old), keyed(new)
    gone, appeared = before - after, after - before
    changes = []
    for kind in sorted({k for k, _ in gone} | {k for k, _ in appeared}):
        olds = [dict(fields) for (k, fields), n in gone.items() if k == kind for _ in range(n)]
        news = [dict(fields) for (k, fields), n in appeared.items() if k == kind for _ in range(n)]
        for left, right in _pair_similar(olds, news):
            what = f"event {kind}"
            if left is None or right is None:
                changes.append(Change(node, what, None if left is None else _fields_text(left),
                                      None if right is None else _fields_text(right)))
                continue
            keys = sorted(k for k in left.keys() | right.keys() if left.get(k) != right.get(k))
            changes.append(Change(node, what, _fields_text({k: left[k] for k in keys if k in left}),
                                  _fields_text({k: right[k] for k in keys if k in right})))
    return changes


def _pair_similar(olds: list[dict[str, str]], news: list[dict[str, str]]
                  ) -> list[tuple[dict[str, str] | None, dict[str, str] | None]]:
    """Greedily pair the old and new events sharing the most identical fields, then the most field names (at
    least one)."""
    scored = sorted(((len(o.items() & n.items()), len(o.keys() & n.keys()), i, j)
                     for i, o in enumerate(olds) for j, n in enumerate(news)), key=lambda t: (-t[0], -t[1], t[2], t[3]))
    used_old: set[int] = set()
    used_new: set[int] = set()
    pairs: list[tuple[dict[str, str] | None, dict[str, str] | None]] = []
    for _, shared_names, i, j in scored:
        if shared_names and i not in used_old and j not in used_new:
            used_old.add(i)
            used_new.add(j)
            pairs.append((olds[i], news[j]))
    pairs += [(o, None) for i, o in enumerate(olds) if i not in used_old]
    pairs += [(None, n) for j, n in enumerate(news) if j not in used_new]
    return pairs


def _fields_text(fields: Mapping[str, str]) -> str:
    return " ".join(f"{key}={_field_value(value)}" for key, value in fields.items())


def _field_value(value: str) -> str:
    return json.dumps(value, ensure_ascii=False) if not value or re.search(r"[\s\"]", value) else value


# --- rendering -------------------------------------------------------------------------------------------------


def shorten(text: str, width: int) -> str:
    """Cut the middle of a long value: the start says what it is, the end often says to whom."""
    if len(text) <= width:
        return text
    head = (width - 1) * 2 // 3
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def _families_lines(result: Drift) -> list[str]:
    lines = []
    for family in result.families:
        if family.changed:
            lines.append(f"{family.family}: {', '.join(family.old)} → {', '.join(family.new)}")
        elif family.old and family.new:
            lines.append(f"{family.family}: unchanged ({', '.join(family.new)})")
        else:
            lines.append(f"{family.family}: only in the {'old' if family.old else 'new'} run "
                         f"({', '.join(family.old or family.new)})")
    return lines


def _pairing_line(result: Drift) -> str:
    changed = [f.family for f in result.families if f.changed]
    rule = f"scenario + label without {', '.join(changed)}" if changed else "scenario + label"
    return f"{result.compared} item(s) in both runs, paired by {rule}"


def _change_text(change: Change, width: int) -> str:
    where = f"{change.hop} {change.what}" if change.hop else change.what
    if change.mark == CHANGED:
        return f"{change.mark} {where}: {_shown(change.old, width)} → {_shown(change.new, width)}"
    return f"{change.mark} {where}: {_shown(change.new if change.old is None else change.old, width)}"


def _shown(value: str | None, width: int) -> str:
    return shorten(value, width) if value else "(none)"


def drift_text(result: Drift, width: int = TEXT_WIDTH) -> str:
    lines = [*_families_lines(result), _pairing_line(result)]
    if result.empty:
        return "\n".join([*lines, "no drift"]) + "\n"
    lines.append(f"{len(result.items)} item(s) drifted  (+ appeared, - went away, ~ changed)")
    for item in result.items:
        lines += ["", item.title]
        lines += [f"  {_change_text(change, width)}" for change in item.changes]
    return "\n".join(lines) + "\n"


def markdown_code(text: str) -> str:
    """Inline code that survives a GitHub table cell: pipes escaped, backticks fenced, one line."""
    text = _one_line(text).replace("|", "\\|")
    if not text:
        return "(none)"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown_text(text: str) -> str:
    """Plain text safe in GitHub markdown (tables, HTML): no tags, emphasis or links by accident."""
    text = _one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]|~#])", r"\\\1", text)


def drift_markdown(result: Drift, limit: int = 200_000, width: int = TEXT_WIDTH,
                   rows_per_item: int = MARKDOWN_ROWS_PER_ITEM) -> str:
    """A section per drifted scenario with a table of changes; at most `rows_per_item` rows each, and at most
    `limit` bytes in all (what is cut is said)."""
    head = ["## Drift", "", *(f"- {markdown_text(line)}" for line in [*_families_lines(result),
                                                                        _pairing_line(result)]), ""]
    if result.empty:
        return "\n".join([*head, "**no drift**", ""])
    head += [f"{len(result.items)} item(s) drifted (+ appeared, - went away, ~ changed):", ""]
    out = "\n".join(head) + "\n"
    for index, item in enumerate(result.items):
        section = _item_markdown(item, width, rows_per_item)
        if len((out + section).encode()) > limit - 200:
            out += f"\n*{len(result.items) - index} more drifted item(s) not shown (size limit); " \
                   f"run `python -m harness drift` on the artifacts.*\n"
            break
        out += section
    return out


def _item_markdown(item: ItemDrift, width: int, rows: int) -> str:
    lines = [f"### {markdown_text(item.title)}", "", "| | hop | what | old | new |", "|---|---|---|---|---|"]
    for change in item.changes[:rows]:
        lines.append(f"| {change.mark} | {markdown_text(change.hop)} | {markdown_text(change.what)} | "
                     f"{_cell(change.old, width)} | {_cell(change.new, width)} |")
    if len(item.changes) > rows:
        lines.append(f"\n*{len(item.changes) - rows} more change(s) not shown.*")
    return "\n".join(lines) + "\n\n"


def _cell(value: str | None, width: int) -> str:
    return "" if value is None else markdown_code(shorten(value, width))
