"""YAML loading that remembers the line of every mapping key and sequence item."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class SourceMap:
    """Line numbers (1-based) of the places in one YAML document, keyed by their path."""

    file: Path
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1


class ScenarioLoader(yaml.SafeLoader):
    """YAML 1.2 core-schema scalars: only true/false are booleans and decimal, 0o and 0x numbers integers, so
    `NO` (the IMAP status), `yes`, `on`, `off`, `y` and `n` stay what a mail operator wrote, and neither `010`
    nor `1:20` turns into another number."""


_REPLACED = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int")
ScenarioLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _REPLACED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ScenarioLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                     list("tTfF"))
ScenarioLoader.add_implicit_resolver("tag:yaml.org,2002:int",
                                     re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
                                     list("-+0123456789"))


def _core_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = loader.construct_scalar(node)  # type: ignore[arg-type]
    return int(text[2:], 8) if text.startswith("0o") else int(text, 0) if text.startswith("0x") else int(text, 10)


ScenarioLoader.add_constructor("tag:yaml.org,2002:int", _core_int)


class YamlSourceError(ValueError):
    """The file is not valid YAML; the message names the file and line."""


def load_with_lines(file: Path) -> tuple[Any, SourceMap]:
    """Parse one YAML document and return its plain data together with its source map."""
    text = file.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=ScenarioLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlSourceError(f"{file}:{line}: not valid YAML: {problem}") from exc
    lines: dict[Path_, int] = {}
    if node is None:
        return None, SourceMap(file, lines)
    data = _convert(node, (), lines, file)
    return data, SourceMap(file, lines)


def _convert(node: yaml.Node, path: Path_, lines: dict[Path_, int], file: Path) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if key in result:
                raise YamlSourceError(f"{file}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
            lines[path + (key,)] = key_node.start_mark.line + 1
            result[key] = _convert(value_node, path + (key,), lines, file)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines[path + (index,)] = item.start_mark.line + 1
            items.append(_convert(item, path + (index,), lines, file))
        return items
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    loader = ScenarioLoader("")
    return loader.construct_object(node, deep=True)
