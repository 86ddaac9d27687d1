"""POP3 pieces the harness needs: status lines, the XCLIENT greeting, multi-line replies.

Pure code: no sockets, no I/O. Commands are ``VERB args`` lines, parsed with
:func:`harness.protocol.smtp.parse_command`; lines are framed by its LineFramer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

OK = "+OK"
ERR = "-ERR"
XCLIENT_GREETING = "+OK [XCLIENT]"
"""Dovecot's pop3 proxy sends XCLIENT only after a greeting that starts with this (``pop3-proxy.c``)."""


def is_ok(line: str) -> bool:
    """Whether a status line is positive (``+OK``, as Dovecot tests it: a prefix)."""
    return line.startswith(OK)


def greeting_offers_xclient(line: str) -> bool:
    """Whether a greeting invites XCLIENT: ``+OK [XCLIENT]...``."""
    return line.startswith(XCLIENT_GREETING)


def xoip_as_xclient(args: str) -> str:
    """``XOIP <ip>`` (Zimbra's nginx) as the XCLIENT line Dovecot treats it as."""
    return f"XCLIENT ADDR={args}"


def format_multiline(status: str, lines: Sequence[str]) -> list[str]:
    """A status line, the dot-stuffed body lines and the terminating ``.``."""
    return [status, *("." + line if line.startswith(".") else line for line in lines), "."]


@dataclass(frozen=True)
class StatusLine:
    """A status line split at its first space: the status word (``+OK``, ``-ERR``) and the text after it."""

    status: str
    text: str

    @property
    def ok(self) -> bool:
        return is_ok(self.status)


def parse_status_line(line: str) -> StatusLine:
    """Split a status line (without CRLF); never raises: whatever precedes the first space is the status."""
    status, _, text = line.partition(" ")
    return StatusLine(status, text)
