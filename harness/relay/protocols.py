"""Which session handler serves each protocol and mode; add a protocol here."""

from __future__ import annotations

from harness.relay import imap
from harness.relay.server import Handler

HANDLERS: dict[str, dict[str, Handler]] = {"imap": imap.HANDLERS}
