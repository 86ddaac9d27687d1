"""What the relay's stream hops (``pass``, ``mutate``) need of one wire family (the table row's ``wire``).

Each session module (:mod:`harness.relay.imap`, ``pop3``, ``smtp``) exports its family's ``WIRE``;
:mod:`harness.relay.protocols` collects them, keyed by the rows' ``wire``, so a protocol of an existing
family is a table row and nothing here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.relay.mutate import RewriterFactory
from harness.relay.received import Received
from harness.relay.scan import Scanner

Answers = Mapping[str, Callable[[str], int]]
"""Commands after which the client answers the server: how many lines, from the command's arguments."""


@dataclass(frozen=True)
class Wire:
    """One wire family, as the stream hops see it."""

    describe: Callable[[str], Received[Any]]
    """What a ``received`` event says about one command line."""
    refusal: str
    """The line a client gets when upstream cannot be reached."""
    scanner: Callable[[], Scanner]
    """A fresh scanner for one client stream."""
    answers: Answers
    rewriter: RewriterFactory
    """``mutate``: the rewriter of the forwarding commands."""


def sasl_responses(args: str) -> int:
    """How many lines a client sends to answer challenges after ``AUTH``/``AUTHENTICATE args``.

    A guess from the client side alone: LOGIN asks twice, other mechanisms once,
    less the initial response; a server that refuses the mechanism asks nothing.
    """
    mechanism, _, initial = args.partition(" ")
    if not mechanism:
        return 0
    asked = 2 if mechanism.upper() == "LOGIN" else 1
    return asked - 1 if initial else asked


LINE_ANSWERS: Answers = {"AUTH": sasl_responses}
"""The line protocols' (POP3, SMTP, LMTP): only SASL."""
