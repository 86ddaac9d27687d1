"""Values a scenario sends and values it expects: shared by the scenario model and every kind's node model."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

Scalar = str | int
LINE_BREAKS = {"\r": "CR", "\n": "LF", "\x00": "NUL"}


def one_line(text: str) -> str:
    """A value the harness sends inside a command line: CR, LF or NUL would end or corrupt the command (a `|`
    block keeps its last line break: use `|-`). Odd but sendable values (TTL abc, an invalid ADDR) stay."""
    found = [name for char, name in LINE_BREAKS.items() if char in text]
    if found:
        raise ValueError(f"holds {' and '.join(found)}: a value sent in a command is one line (for a `|` block "
                         "scalar, write `|-`)")
    return text


Sendable = Annotated[str, AfterValidator(one_line)]
"""Text that goes on the wire inside a command."""


class Strict(BaseModel):
    """A part of a scenario: unknown fields are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Repeat(Strict):
    """A long value written short: `{repeat: "a", times: 1100}` is 1100 a's (limits of ID and XCLIENT)."""

    repeat: Sendable = Field(min_length=1)
    times: int = Field(ge=0, le=100_000)


def _value_shape(value: Any) -> Any:
    """Say what a value may be, instead of every branch of the union failing."""
    if isinstance(value, bool) or not isinstance(value, (str, int, dict)):
        raise ValueError(f"expected a text, a number or {{repeat: <text>, times: <n>}}, not {type(value).__name__}")
    return one_line(value) if isinstance(value, str) else value


def _attribute_shape(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (str, int, dict)):
        raise ValueError("expected a text, a number, {repeat: <text>, times: <n>} or (FORWARD) a mapping of "
                         f"fields, not {type(value).__name__}")
    return one_line(value) if isinstance(value, str) else value


Value = Annotated[Sendable | int | Repeat, Field(union_mode="left_to_right"), BeforeValidator(_value_shape)]
"""A value the scenario sends: a literal, or a Repeat."""
XclientAttributes = dict[str, Annotated[Value | dict[str, Value], Field(union_mode="left_to_right"),
                                        BeforeValidator(_attribute_shape)]]
"""XCLIENT attributes by name; FORWARD may be a mapping of forwarded fields (encoded per protocol)."""
Expected = Scalar | dict[str, Any]
"""A value to match: a literal, `@node` (that node's address), or a mapping such as
{regex: ...}, {one_of: [...]}, {absent: true} or {dovecot-2.3: ..., dovecot-2.4: ..., default: ...}."""


def text_of(value: Scalar | Repeat) -> str:
    """What goes on the wire for a value of the scenario."""
    return value.repeat * value.times if isinstance(value, Repeat) else str(value)


def texts_of(fields: dict[str, Any]) -> list[tuple[str, str]]:
    return [(key, text_of(value)) for key, value in fields.items()]
