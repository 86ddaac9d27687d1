"""The relay's one error: a session cannot go on."""

from __future__ import annotations


class RelayError(Exception):
    """A session cannot go on; the message is recorded as an ``error`` event."""
