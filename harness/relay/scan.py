"""Cut a client's byte stream into pieces that say what they are: command lines or content.

Pure code, for the hops that pass a stream on (``pass``, ``mutate``): the pieces, in
order, are exactly the bytes fed, so a hop can forward them as they come. Only the
client side is seen, so the scanners follow what a client may send, not what a
server answered:

- IMAP: a line ending in ``{n}`` or ``{n+}`` is followed by n literal bytes, then the
  command goes on. (A server that refuses a ``{n}`` literal leaves the scan off by n.)
- SMTP/LMTP: after ``DATA`` the lines up to a lone ``.`` are message content (right
  for the pipelined case: Dovecot waits for the 354 before it sends content);
  ``BDAT <n> [LAST]`` is followed by n bytes of content.
- All: after a STARTTLS (POP3: STLS) command, and at the start of the stream, a first
  byte 0x16 (a TLS handshake record) makes everything after it opaque.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.protocol.imap import literal_length
from harness.protocol.smtp import bdat_size, is_data_end
from harness.protocol.wire import decode, strip_eol

MAX_LINE_BYTES = 64 * 1024
TLS_HANDSHAKE = 0x16

Kind = Literal["line", "partial", "content", "tls"]
LINE: Kind = "line"
"""A whole line of a command (ending in LF)."""
PARTIAL: Kind = "partial"
"""Part of a command line handed out before its end: too long to hold, or cut off by the end of the stream."""
CONTENT: Kind = "content"
"""Bytes that are no command: an IMAP literal, message content, a BDAT chunk."""
TLS: Kind = "tls"
"""Bytes after a TLS handshake began."""


@dataclass(frozen=True)
class Segment:
    """One piece of the stream.

    ``first``/``last``: the piece starts/ends a command (an IMAP command may span lines
    and literals). ``pipelined`` (with ``last``): more bytes were already buffered behind it.
    """

    raw: bytes
    kind: Kind
    first: bool = False
    last: bool = False
    pipelined: bool = False


class Scanner:
    """The protocol-independent part: lines, counted bytes, over-long lines, TLS."""

    def __init__(self, starttls: str, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._starttls = starttls
        self._buffer = bytearray()
        self._scanned = 0
        self._counted = 0
        self._overflow = False
        self._line_started = False
        self._tls_may_start = True
        self._opaque = False

    def feed(self, data: bytes) -> list[Segment]:
        """Add received bytes; return the pieces now known, in order."""
        self._buffer += data
        segments: list[Segment] = []
        while self._buffer:
            segment = self._next()
            if segment is None:
                break
            segments.append(segment)
        return segments

    def flush(self) -> list[Segment]:
        """At the end of the stream: whatever was held back, as a partial piece."""
        if not self._buffer:
            return []
        return [Segment(self._take(len(self._buffer)), TLS if self._opaque else self._partial_kind())]

    def _next(self) -> Segment | None:
        if self._opaque:
            return Segment(self._take(len(self._buffer)), TLS)
        if self._counted:
            raw = self._take(min(self._counted, len(self._buffer)))
            self._counted -= len(raw)
            return Segment(raw, CONTENT)
        if self._tls_may_start:
            self._tls_may_start = False
            if self._buffer[0] == TLS_HANDSHAKE:
                self._opaque = True
                return Segment(self._take(len(self._buffer)), TLS)
        end = self._buffer.find(b"\n", self._scanned)
        if end < 0:
            return self._hold_or_overflow()
        raw = self._take(end + 1)
        overflowed, self._overflow = self._overflow, False
        return self._end_line(raw, overflowed)

    def _hold_or_overflow(self) -> Segment | None:
        self._scanned = len(self._buffer)
        if not self._overflow and len(self._buffer) <= self.max_line_bytes:
            return None
        kind = self._partial_kind()
        first = not self._overflow and kind == PARTIAL and self._starts_command()
        self._overflow = True
        return Segment(self._take(len(self._buffer)), kind, first=first)

    def _take(self, size: int) -> bytes:
        raw = bytes(self._buffer[:size])
        del self._buffer[:size]
        self._scanned = 0
        return raw

    def _is_starttls(self, verb: str) -> bool:
        return verb.upper() == self._starttls

    def _starts_command(self) -> bool:
        return True

    def _partial_kind(self) -> Kind:
        return PARTIAL

    def _end_line(self, raw: bytes, overflowed: bool) -> Segment:
        raise NotImplementedError


class ImapScanner(Scanner):
    """IMAP commands: lines and the literals they announce."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        super().__init__("STARTTLS", max_line_bytes)
        self._in_command = False

    def _starts_command(self) -> bool:
        return not self._in_command

    def _end_line(self, raw: bytes, overflowed: bool) -> Segment:
        first = not self._in_command and not overflowed
        size = None if overflowed else literal_length(raw)
        if size is not None:
            self._in_command = True
            self._counted = size
            return Segment(raw, LINE, first=first)
        self._in_command = False
        words = decode(strip_eol(raw)).split(" ", 2)
        if first and len(words) == 2 and self._is_starttls(words[1]):
            self._tls_may_start = True
        kind = PARTIAL if overflowed else LINE
        return Segment(raw, kind, first=first, last=True, pipelined=bool(self._buffer))


class LineScanner(Scanner):
    """POP3, SMTP and LMTP: one command a line; with ``content_commands``, DATA and BDAT carry content."""

    def __init__(self, starttls: str, *, content_commands: bool, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        super().__init__(starttls, max_line_bytes)
        self._content_commands = content_commands
        self._in_data = False

    def _partial_kind(self) -> Kind:
        return CONTENT if self._in_data else PARTIAL

    def _end_line(self, raw: bytes, overflowed: bool) -> Segment:
        if self._in_data:
            self._in_data = overflowed or not is_data_end(decode(strip_eol(raw)))
            return Segment(raw, CONTENT)
        if overflowed:
            return Segment(raw, PARTIAL, last=True, pipelined=bool(self._buffer))
        text = decode(strip_eol(raw))
        verb = text.split(" ", 1)[0].upper()
        if self._content_commands and verb == "DATA":
            self._in_data = True
        elif self._content_commands and verb == "BDAT":
            self._counted = bdat_size(text) or 0
        elif self._is_starttls(verb):
            self._tls_may_start = True
        return Segment(raw, LINE, first=True, last=True, pipelined=bool(self._buffer))
