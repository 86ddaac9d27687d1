"""Values a scenario sends and values it expects: shared by the scenario model and every kind's node model."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Scalar = str | int


class Strict(BaseModel):
    """A part of a scenario: unknown fields are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Repeat(Strict):
    """A long value written short: `{repeat: "a", times: 1100}` is 1100 a's (limits of ID and XCLIENT)."""

    repeat: str = Field(min_length=1)
    times: int = Field(ge=0, le=100_000)


Value = Annotated[Scalar | Repeat, Field(union_mode="left_to_right")]
"""A value the scenario sends: a literal, or a Repeat."""
XclientAttributes = dict[str, Annotated[Value | dict[str, Value], Field(union_mode="left_to_right")]]
"""XCLIENT attributes by name; FORWARD may be a mapping of forwarded fields (encoded per protocol)."""
Expected = Scalar | dict[str, Any]
"""A value to match: a literal, `@node` (that node's address), or a mapping such as
{regex: ...}, {one_of: [...]}, {absent: true} or {dovecot-2.3: ..., dovecot-2.4: ..., default: ...}."""


def text_of(value: Scalar | Repeat) -> str:
    """What goes on the wire for a value of the scenario."""
    return value.repeat * value.times if isinstance(value, Repeat) else str(value)


def texts_of(fields: dict[str, Any]) -> list[tuple[str, str]]:
    return [(key, text_of(value)) for key, value in fields.items()]
