"""The XCLIENT command a client sends for a session's `xclient:` attributes, encoded as its protocol wants."""

from __future__ import annotations

from collections.abc import Mapping

from harness.load.scenario import XclientAttributes, text_of, texts_of
from harness.protocol.table import row
from harness.protocol.xclient import VERB, Attribute, encode_forward, format_xclient


def xclient_line(attributes: XclientAttributes, protocol: str) -> str:
    """The XCLIENT command for these attributes in `protocol` (a protocol table name), values encoded with the
    row's XCLIENT flavour; a FORWARD mapping becomes the forward-field payload. No attributes: a bare `XCLIENT`,
    as a broken sender would send it (Postfix: 501 5.5.4 Syntax)."""
    flavour = row(protocol).xclient_flavour
    if flavour is None:
        raise ValueError(f"{protocol} has no XCLIENT")
    if not attributes:
        return VERB
    return format_xclient(xclient_attributes(attributes), flavour)


def xclient_attributes(attributes: XclientAttributes) -> list[Attribute]:
    """Upper-cased names with their values as text; a mapping value (FORWARD) as the encoded payload."""
    pairs = []
    for name, value in attributes.items():
        text = encode_forward(texts_of(dict(value))) if isinstance(value, Mapping) else text_of(value)
        pairs.append((name.upper(), text))
    return pairs
