"""Which session handler serves each protocol and mode; add a protocol here."""

from __future__ import annotations

from harness.relay import imap, passthrough, pop3, smtp
from harness.relay.server import Handler

HANDLERS: dict[str, dict[str, Handler]] = {
    "imap": {**imap.HANDLERS, **passthrough.HANDLERS},
    "pop3": {**pop3.HANDLERS, **passthrough.HANDLERS},
    "submission": {**smtp.HANDLERS, **passthrough.HANDLERS},
    "lmtp": {**smtp.HANDLERS, **passthrough.HANDLERS},
}
