"""The protocol-independent part of the relay: listen, accept, one thread per client."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from harness.relay.config import Endpoint, RelayConfig
from harness.relay.events import EventLog
from harness.relay.net import RelayError, format_peer, no_delay
from harness.relay.pump import leave_signals_to_main_thread

BACKLOG = 1024
"""Connections the kernel holds while the accept loop starts threads: 500 clients connecting at once must not
wait for a SYN retry (1 s, 3 s, ...)."""


@dataclass(frozen=True)
class Session:
    """One accepted client connection and what its handler needs."""

    conn: int
    sock: socket.socket
    peer: str
    config: RelayConfig
    log: EventLog

    def emit(self, event: str, **fields: object) -> None:
        """Record an event about this connection."""
        self.log.emit(event, conn=self.conn, **fields)


Handler = Callable[[Session], None]
"""Runs one session to its end; raises RelayError or OSError when it fails."""


def open_listener(endpoint: Endpoint) -> socket.socket:
    """A listening socket; port 0 picks a free one (see ``getsockname``)."""
    family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
    return socket.create_server((endpoint.host, endpoint.port), family=family, backlog=BACKLOG)


def serve(listener: socket.socket, config: RelayConfig, log: EventLog, handler: Handler) -> None:
    """Accept clients for ever, each in its own thread.

    ``accept`` has no timeout: waiting for the next client is the relay's idle
    state, and the process ends by signal.
    """
    conn = 0
    while True:
        try:
            sock, address = listener.accept()
        except ConnectionAbortedError:
            continue
        conn += 1
        sock.settimeout(config.timeout)
        no_delay(sock)
        session = Session(conn, sock, format_peer(address), config, log)
        session.emit("connect", peer=session.peer)
        threading.Thread(
            target=run_session,
            args=(session, handler),
            name=f"conn-{conn}",
            daemon=True,
        ).start()


def run_session(session: Session, handler: Handler) -> None:
    """Run ``handler``, record how it failed if it did, and always close."""
    leave_signals_to_main_thread()
    try:
        handler(session)
    except RelayError as err:
        session.emit("error", message=str(err))
    except (OSError, ValueError) as err:
        session.emit("error", message=f"{type(err).__name__}: {err}")
    finally:
        # Recorded before the close: whoever sees the close then knows the record is written (the settle rule).
        session.emit("closed")
        session.sock.close()
