"""The registry of node kinds. Built-in kinds are one line each in BUILTIN; other packages add theirs through the
`mailhops.kinds` entry point group (a NodeKind instance or class), and tests through `register()`."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from harness.kinds.base import NodeKind

BUILTIN = (
    "harness.kinds.dovecot:KIND",
    "harness.kinds.postfix:KIND",
    "harness.kinds.relay:KIND",
    "harness.kinds.nginx:KIND",
    "harness.kinds.haproxy:KIND",
)
ENTRY_POINT_GROUP = "mailhops.kinds"

_kinds: dict[str, NodeKind] = {}
_loaded = False


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for reference in BUILTIN:
        module, _, attribute = reference.partition(":")
        register(getattr(importlib.import_module(module), attribute))
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry.load()
        register(loaded() if isinstance(loaded, type) else loaded)


def register(kind: NodeKind) -> NodeKind:
    """Add a kind (replacing one of the same name). Returns it, so it can be used as a class decorator's result."""
    _load_builtin()
    if not getattr(kind, "name", None) or getattr(kind, "model", None) is None:
        raise TypeError(f"{kind!r} is not a node kind: it needs `name` and `model`")
    _kinds[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _kinds.pop(name, None)


def kinds() -> tuple[NodeKind, ...]:
    """Every registered kind, built-in ones first."""
    _load_builtin()
    return tuple(_kinds.values())


def get(name: str) -> NodeKind:
    _load_builtin()
    try:
        return _kinds[name]
    except KeyError:
        raise KeyError(f"no node kind `{name}` (known: {', '.join(_kinds)})") from None


def names() -> tuple[str, ...]:
    return tuple(kind.name for kind in kinds())


def server_kinds() -> tuple[NodeKind, ...]:
    """The kinds that are real servers with versions, in registration order."""
    return tuple(kind for kind in kinds() if kind.family is not None)


def families() -> tuple[str, ...]:
    """The server families (`servers:` keys, version-key prefixes, `--<family>` options)."""
    return tuple(dict.fromkeys(kind.family for kind in server_kinds() if kind.family))


def of_family(family: str) -> NodeKind:
    return next(kind for kind in server_kinds() if kind.family == family)


def categories() -> frozenset[str]:
    """Every expectation key some kind can show: the union is the schema of `expect: <node>:`."""
    found: set[str] = set()
    for kind in kinds():
        found |= kind.categories
    return frozenset(found)
