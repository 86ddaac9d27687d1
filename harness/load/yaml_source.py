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


MAX_BYTES = 1024 * 1024
"""A scenario is a page of YAML: anything larger is refused before it is parsed."""
MAX_DEPTH = 32
"""Scenarios nest a few levels (expect -> node -> category -> list -> field -> version map); 32 is generous."""


def load_with_lines(file: Path) -> tuple[Any, SourceMap]:
    """Parse one YAML document and return its plain data together with its source map. Anything that is not a
    plain UTF-8 YAML document of bounded size and depth, without anchors and aliases, is a YamlSourceError that
    names the line."""
    text = _text_of(file)
    try:
        _check_events(text, file)
        node = yaml.compose(text, Loader=ScenarioLoader)
    except yaml.YAMLError as exc:
        raise YamlSourceError(f"{file}:{_line_of_error(exc, text)}: not valid YAML: {_problem(exc)}") from exc
    lines: dict[Path_, int] = {}
    if node is None:
        return None, SourceMap(file, lines)
    data = _convert(node, (), lines, file)
    return data, SourceMap(file, lines)


def _text_of(file: Path) -> str:
    data = file.read_bytes()
    if len(data) > MAX_BYTES:
        raise YamlSourceError(f"{file}:1: {len(data)} bytes: a scenario is at most {MAX_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise YamlSourceError(f"{file}:{line}: not UTF-8 text (byte {data[exc.start]:#04x}); "
                              "a scenario is a YAML text file") from None


def _check_events(text: str, file: Path) -> None:
    """Refuse aliases (an alias bomb expands without bound) and nesting deeper than MAX_DEPTH (Python's recursion
    limit), walking the parser's events, which need no recursion."""
    depth = 0
    for event in yaml.parse(text, Loader=ScenarioLoader):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise YamlSourceError(f"{file}:{line}: anchors and aliases (&name, *name) are not allowed in scenarios: "
                                  "write the value out")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlSourceError(f"{file}:{line}: nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _line_of_error(exc: yaml.YAMLError, text: str) -> int:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return int(mark.line) + 1
    position = getattr(exc, "position", None)  # a ReaderError (a NUL byte, a control character) has only this
    return text[:position].count("\n") + 1 if isinstance(position, int) else 1


def _problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return f"unacceptable character #x{code:04x} (a control character such as NUL)"
    return str(getattr(exc, "problem", None) or exc)


def _convert(node: yaml.Node, path: Path_, lines: dict[Path_, int], file: Path) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlSourceError(f"{file}:{key_node.start_mark.line + 1}: a mapping key is a plain value, "
                                      "not a list or a mapping")
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
