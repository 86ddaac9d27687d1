"""The relay's record: one JSON object per line on stdout."""

from __future__ import annotations

import json
import threading
import time
from typing import TextIO


class EventLog:
    """Writes events as JSON lines, each stamped with the relay name and time."""

    def __init__(self, relay: str, stream: TextIO) -> None:
        self.relay = relay
        self._stream = stream
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: object) -> None:
        """Write one event line and flush it, so a reader sees it at once."""
        record = {"event": event, "relay": self.relay, "t": time.time(), **fields}
        line = json.dumps(record)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()
