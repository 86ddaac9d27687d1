"""The observations file: each pytest process writes its part; the controlling process merges them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FORMAT = "mailhops-observations/1"


def _parts_dir(path: str) -> Path:
    return Path(f"{path}.parts")


def write_part(path: str, records: list[dict[str, Any]]) -> None:
    folder = _parts_dir(path)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{os.getpid()}.json").write_text(json.dumps(records))


def merge_parts(path: str) -> None:
    """All parts into one file."""
    folder = _parts_dir(path)
    items: list[dict[str, Any]] = []
    for part in sorted(folder.glob("*.json")):
        items += json.loads(part.read_text())
        part.unlink()
    folder.rmdir()
    _write(Path(path), items)


def merge_files(output: Path, inputs: list[Path]) -> int:
    """Several runs' observation files (the shards of one run) as one, items sorted by node id; returns how
    many items. An item in two inputs is an error: shards never share one."""
    items: list[dict[str, Any]] = []
    for path in inputs:
        items += load(path)["items"]
    seen: set[tuple[str, str]] = set()
    for item in items:
        key = (item["nodeid"], item["label"])
        if key in seen:
            raise ValueError(f"{item['nodeid']} is in more than one of the files: not shards of one run")
        seen.add(key)
    _write(output, items)
    return len(items)


def _write(path: Path, items: list[dict[str, Any]]) -> None:
    """Items sorted by node id, so two runs list them in the same order."""
    items.sort(key=lambda item: item["nodeid"])
    path.write_text(json.dumps({"format": FORMAT, "items": items}, indent=1, ensure_ascii=False) + "\n")


def load(path: str | Path) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    if data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a mailhops observations file ({FORMAT})")
    return data
