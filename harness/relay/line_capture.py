"""What the POP3, SMTP and LMTP capture sessions share: reading the client's lines and recording them."""

from __future__ import annotations

from collections.abc import Callable

from harness.protocol.smtp import Command, Line, LineTooLongError
from harness.relay.net import RelayError
from harness.relay.reader import LineReader
from harness.relay.received import Received, continuation
from harness.relay.server import Session


class LineCapture:
    """A capture session over CRLF lines; each protocol's subclass answers the commands.

    ``describe``: the protocol's, for the ``received`` event of each command line.
    """

    def __init__(self, session: Session, describe: Callable[[str], Received[Command]]) -> None:
        self.session = session
        self.config = session.config
        self.reader = LineReader(session.sock, "the client")
        self._describe = describe

    def _next(self, what: str) -> Line | None:
        """The client's next line, or None when it closed; an over-long line ends the session."""
        try:
            return self.reader.next_event(what)
        except LineTooLongError as err:
            self._refuse_too_long(err)
            raise RelayError(str(err)) from None

    def _record(self, line: Line) -> tuple[Command | None, dict[str, object]]:
        received = self._describe(line.text)
        return received.command, received.record(self.session, line.text, line.pipelined)

    def _auth_response(self) -> str:
        """The client's answer to an AUTH challenge, recorded as a continuation."""
        line = self._next("an AUTH response")
        if line is None:
            raise RelayError("the client closed the connection during AUTH")
        continuation().record(self.session, line.text, line.pipelined)
        return line.text

    def _refuse_too_long(self, err: LineTooLongError) -> None:
        """Tell the client, the protocol's way, that its line is over the limit."""
        raise NotImplementedError
