"""Bytes off the wire as text, for every protocol here.

Pure code. Text is bytes decoded as UTF-8 with ``surrogateescape``, so
``encode(decode(b)) == b`` for any bytes ``b``: a relay can record any line and
still send it on byte for byte.
"""

from __future__ import annotations

ENCODING = "utf-8"
ERRORS = "surrogateescape"


def decode(data: bytes) -> str:
    """Bytes off the wire as text, losslessly."""
    return data.decode(ENCODING, ERRORS)


def encode(text: str) -> bytes:
    """The inverse of :func:`decode`."""
    return text.encode(ENCODING, ERRORS)


def strip_eol(line: bytes) -> bytes:
    """``line`` without a final CRLF or LF."""
    if line.endswith(b"\r\n"):
        return line[:-2]
    if line.endswith(b"\n"):
        return line[:-1]
    return line
