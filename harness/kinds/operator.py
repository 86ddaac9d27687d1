"""The operator's own server settings on a node: shared by the server kinds (Dovecot, Postfix). A node carries them
inline (`settings:` key = value, `config:` text, either per version) or in a file beside the scenario
(`config_file:`); the kind renders them after its own config so they win, and refuses at load time the settings
the harness must own to observe the node."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field, ValidationInfo, field_validator

Versioned = str | dict[str, str]
"""A text, or texts by version key (`dovecot-2.3: ...`, `dovecot-2.4: ...`, `default: ...`)."""
_SETTING_LINE = re.compile(r"^([A-Za-z_][\w-]*)\s*=", re.MULTILINE)


class OperatorSettings(BaseModel):
    """The fields of a server node that carry the operator's own settings; a kind's model lists in OWNED what it
    refuses (name -> why the harness needs it)."""

    OWNED: ClassVar[Mapping[str, str]] = {}
    settings: dict[str, str | int] = Field(default_factory=dict)
    """The operator's own settings (`name = value` after the harness's config, so they win)."""
    config: Versioned | None = None
    """The operator's own config text (sections included), or texts per version key; after `settings`."""
    config_file: str | None = None
    """A file beside the scenario with the operator's config text (read at load time); after `config`."""

    @field_validator("config_file", mode="before")
    @classmethod
    def _read_config_file(cls, value: Any, info: ValidationInfo) -> Any:
        return read_config_file(value, info)

    @field_validator("settings")
    @classmethod
    def _settings(cls, value: dict[str, str | int]) -> dict[str, str | int]:
        problem = owned_problem(value, cls.OWNED)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("config", "config_file")
    @classmethod
    def _config(cls, value: Versioned | None) -> Versioned | None:
        problem = owned_problem((name for text in texts_of(value) for name in top_level_settings(text)), cls.OWNED)
        if problem:
            raise ValueError(problem)
        return value

    def operator_texts(self, labels: Iterable[str]) -> list[str]:
        """The operator's lines, in order: settings, then the config text for these version labels, then the file."""
        lines = [f"{name} = {value}" for name, value in self.settings.items()]
        return lines + [text.rstrip("\n") for text in (pick(self.config, labels), self.config_file or "") if text]


def read_config_file(value: Any, info: ValidationInfo) -> Any:
    """`config_file:` relative to the scenario's folder -> its text (pydantic validation context `folder`)."""
    if value is None:
        return None
    folder = (info.context or {}).get("folder")
    path = Path(folder or ".") / str(value)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None


def top_level_settings(text: str) -> list[str]:
    """The names a config text sets outside any section (`name = value` at depth 0)."""
    names, depth = [], 0
    for line in text.splitlines():
        stripped = line.split("#", 1)[0].strip()
        if depth == 0 and (match := _SETTING_LINE.match(stripped)):
            names.append(match.group(1))
        depth += stripped.count("{") - stripped.count("}")
    return names


def owned_problem(names: Iterable[str], owned: Mapping[str, str]) -> str | None:
    """Why setting these names would break observation (owned name -> why the harness owns it), or None."""
    taken = [name for name in names if name in owned]
    if not taken:
        return None
    return "; ".join(f"the harness owns `{name}`: {owned[name]}" for name in dict.fromkeys(taken))


def texts_of(value: Versioned | None) -> list[str]:
    """Every text a possibly version-keyed value may render to."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value.values())


def pick(value: Versioned | None, labels: Iterable[str]) -> str:
    """The text for this node's version labels (most specific first, then `default`); '' if none applies."""
    if value is None or isinstance(value, str):
        return value or ""
    return next((value[label] for label in [*labels, "default"] if label in value), "")

