"""Where a run's wall time goes: the order items start in (longest first, from recorded durations) and the
critical path of a finished run (which items bound it). Pure code: durations in, order and text out."""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DURATIONS_FILE = ".test_durations"
"""pytest-split's file (node id -> seconds), so one recorded file orders a run and splits it into shards."""


def read_durations(path: Path) -> dict[str, float]:
    """The recorded durations, or none when the file is missing or not such a file."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if isinstance(data, list):  # pytest-split's older format: [[nodeid, seconds], ...]
        data = dict(entry for entry in data if isinstance(entry, list) and len(entry) == 2)
    if not isinstance(data, dict):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, (int, float))}


def longest_first(nodeids: Sequence[str], durations: Mapping[str, float]) -> list[int]:
    """Indexes of `nodeids` in the order to start them: longest first, so that under `-n` a long item does not
    start last and keep one worker busy alone. An item never recorded counts as the median one; ties keep the
    collection order (every worker must collect the same order)."""
    known = [durations[nodeid] for nodeid in nodeids if nodeid in durations]
    typical = statistics.median(known) if known else 0.0
    return sorted(range(len(nodeids)), key=lambda i: (-durations.get(nodeids[i], typical), i))


@dataclass(frozen=True)
class Timed:
    nodeid: str
    worker: str
    seconds: float


def critical_path(timed: Sequence[Timed], wall_s: float, top: int = 5) -> list[str]:
    """Lines saying which items bound the wall time: the busiest worker (its total is the run's floor with this
    split of work) and its longest items, and the single longest item (no split can beat it)."""
    if not timed:
        return []
    busy: dict[str, float] = {}
    for item in timed:
        busy[item.worker] = busy.get(item.worker, 0.0) + item.seconds
    worker = max(busy, key=lambda name: busy[name])
    total = sum(busy.values())
    longest = max(timed, key=lambda item: item.seconds)
    lines = [f"critical path: wall {wall_s:.1f}s; items {total:.1f}s on {len(busy)} worker(s); busiest {worker} "
             f"{busy[worker]:.1f}s; longest item {longest.seconds:.1f}s ({longest.nodeid})"]
    mine = sorted((item for item in timed if item.worker == worker), key=lambda item: -item.seconds)
    for item in mine[:top]:
        lines.append(f"  {item.seconds:6.1f}s {item.nodeid}")
    if len(busy) > 1 and total:
        lines.append(f"  balance: busiest worker {busy[worker]:.1f}s vs an even split {total / len(busy):.1f}s")
    return lines
