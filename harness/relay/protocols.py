"""Which session handler serves each protocol and mode; add a protocol here."""

from __future__ import annotations

from harness.relay import imap, pop3, smtp
from harness.relay.server import Handler

HANDLERS: dict[str, dict[str, Handler]] = {
    "imap": imap.HANDLERS,
    "pop3": pop3.HANDLERS,
    "submission": smtp.HANDLERS,
    "lmtp": smtp.HANDLERS,
}
