"""The upstream a session fronts, every protocol: connecting to it, and ``inject``'s run.

``inject`` is the same for every protocol but for its handshake (our forwarding
command, said the protocol's way) and, for LMTP, a filter on what the client sends.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable

from harness.relay.net import RelayError, StreamFilter, connect, pipe, send_line
from harness.relay.server import Session

Handshake = Callable[[Session, socket.socket], bytes]
"""Talks to upstream before the client may; returns the bytes owed to the client, empty
when upstream refused us and the client has been told."""
ClientFilter = Callable[[Session], StreamFilter | None]


def run_inject(
    session: Session,
    handshake: Handshake,
    refusal: str,
    handshake_errors: tuple[type[Exception], ...],
    client_filter: ClientFilter | None = None,
) -> None:
    """Run ``handshake`` upstream first, then hand the client the upstream session.

    The client gets ``refusal`` when upstream cannot be reached or the handshake
    fails with one of ``handshake_errors``.
    """
    upstream = connect_upstream(session, refusal)
    if upstream is None:
        return
    with upstream:
        try:
            head = handshake(session, upstream)
        except handshake_errors as err:
            refuse_client(session, str(err), refusal)
            return
        if head:
            session.sock.sendall(head)
            stream_filter = None if client_filter is None else client_filter(session)
            pipe(session.sock, upstream, session.config.timeout, stream_filter)


def connect_upstream(session: Session, refusal: str) -> socket.socket | None:
    """A connection to the configured upstream, or None after telling the client ``refusal``."""
    target = session.config.upstream
    if target is None:
        raise RelayError("inject mode without an upstream")
    try:
        return connect(target.host, target.port, session.config.timeout)
    except OSError as err:
        refuse_client(session, f"cannot connect to upstream {target.host}:{target.port}: {err}", refusal)
        return None


def refuse_client(session: Session, message: str, refusal: str) -> None:
    session.emit("error", message=message)
    with contextlib.suppress(OSError):  # the client may be gone already
        send_line(session.sock, refusal)
