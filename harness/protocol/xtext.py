"""xtext (RFC 3461 section 4), the value encoding of SMTP XCLIENT and ESMTP parameters.

Pure code. Text is bytes decoded as UTF-8 with ``surrogateescape`` (see
:mod:`harness.protocol.wire`), so any byte string survives a round trip.
"""

from __future__ import annotations

from harness.protocol.wire import ENCODING, decode, encode

_PLUS, _EQUALS = 0x2B, 0x3D
_HEX_UPPER = frozenset(b"0123456789ABCDEF")
_HEX_ANY = _HEX_UPPER | frozenset(b"abcdef")


class XtextError(ValueError):
    """The input is not valid xtext."""


def is_xchar(byte: int) -> bool:
    """Whether ``byte`` may appear unencoded in xtext: ``!``..``~`` except ``+`` and ``=``."""
    return 0x21 <= byte <= 0x7E and byte not in (_PLUS, _EQUALS)


def xtext_encode(text: str) -> str:
    """``text`` as xtext; every other byte becomes ``+XX`` (upper-case hex).

    XtextError for text with no bytes (a lone surrogate outside ``surrogateescape``'s range).
    """
    return "".join(chr(byte) if is_xchar(byte) else f"+{byte:02X}" for byte in _bytes_of(text))


def xtext_decode(xtext: str, *, allow_lowercase: bool = False) -> str:
    """Decode xtext; XtextError on a bad ``+XX`` or a character xtext cannot hold.

    RFC 3461 and Dovecot (``smtp_parser_parse_xtext``) want upper-case hex digits;
    Postfix (``xtext_unquote``) also takes lower case, hence ``allow_lowercase``.
    """
    hex_digits = _HEX_ANY if allow_lowercase else _HEX_UPPER
    data = _bytes_of(xtext)
    out = bytearray()
    pos = 0
    while pos < len(data):
        byte = data[pos]
        if byte == _PLUS:
            pair = data[pos + 1 : pos + 3]
            if len(pair) != 2 or not set(pair) <= hex_digits:
                raise XtextError(f"invalid hexchar after '+' at offset {pos} in xtext {xtext!r}")
            out.append(int(pair, 16))
            pos += 3
            continue
        if not is_xchar(byte):
            raise XtextError(f"invalid character {chr(byte)!r} at offset {pos} in xtext {xtext!r}")
        out.append(byte)
        pos += 1
    return decode(bytes(out))


def _bytes_of(text: str) -> bytes:
    try:
        return encode(text)
    except UnicodeEncodeError as err:
        raise XtextError(f"text cannot be encoded as {ENCODING}: {err}") from None
