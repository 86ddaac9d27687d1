"""When the observations of a run are complete enough to give a verdict.

The rule: servers log after they answer, so a client that is done does not mean the logs are written. The
observe and check stages therefore run together, after the clients finished:
1. read every node's log and parse it into events (observe), check the expectations (check);
2. if every expectation holds, that is the verdict; otherwise read again, until SETTLE_TIMEOUT_S has passed
   since the clients finished, and the verdict is the last one;
3. but an expectation that a later line could still break (a count with an upper bound: `count: 0`, a drop
   that must not happen, `count: 1`) proves nothing while lines may still come: when the verdict holds and
   has one, and always with `complete` (an observations file is written, so two runs must record the same
   lines), first wait until the logs are complete, then observe and check once more: that is the verdict.
   So the verdict is the same with and without an observations file.

Complete means, for a node whose kind has a log barrier (`NodeKind.log_barrier`: Dovecot, Postfix, the relay),
that the barrier has passed: a probe whose own line goes through the single writer all the node's lines go
through has been seen in the followed log, so every line written before it is there too. Nothing is left
after that: a client reads until the server closes the connection after its logout (harness/drive), servers log
a session's end before they close its socket, and a proxy closes its client only after its own upstream closed,
so every hop has written its lines about the client's sessions before the barrier starts. Work that no client
waits for breaks this: a ring's laps (`Plan.loops`), a 2.4 proxy's retries, a mail in Postfix's queue
(`NodeKind.work_in_progress`); then, and for nodes without a barrier (HAProxy, nginx), complete means the
quiet rule: the log has not grown for QUIET_S (measured from the last growth: the logs are followed as written).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TypeVar

from harness.check.expect import Verdict
from harness.provision.probe import wait_until

SETTLE_TIMEOUT_S = float(os.environ.get("MAILHOPS_SETTLE_TIMEOUT", "8"))
QUIET_S = float(os.environ.get("MAILHOPS_QUIET", "1.0"))
"""Dovecot's auth and login processes can log a line a good half second after the last one under load (seen at
0.3 s: a run missed an auth line two others had), so without a barrier a second of quiet is what complete means."""
BARRIER_TIMEOUT_S = 3.0
"""A barrier not seen by then (a server that does not log its probe's close) leaves its node to QUIET_S."""
POLL_S = 0.05

Observed = TypeVar("Observed")


def settle(observe: Callable[[], Observed], check: Callable[[Observed], Verdict],
           wait_complete: Callable[[], None], complete: bool) -> tuple[Verdict, Observed]:
    """The verdict and the observations it was given on, by the rule above; `wait_complete` returns once the
    logs are complete (or SETTLE_TIMEOUT_S has passed)."""
    result: list[tuple[Verdict, Observed]] = []

    def passed() -> bool:
        observed = observe()
        result[:] = [(check(observed), observed)]
        return result[0][0].passed

    wait_until(passed, SETTLE_TIMEOUT_S, interval=POLL_S)
    if complete or result[0][0].needs_complete_logs:
        wait_complete()
        observed = observe()
        result[:] = [(check(observed), observed)]
    return result[-1]


def wait_for_quiet(logs: Iterable[tuple[Callable[[], float], float]]) -> None:
    """Until every log (for how long it has not grown, how long it must not have) is quiet enough, at most
    SETTLE_TIMEOUT_S."""
    wanted = list(logs)
    wait_until(lambda: all(idle_s() >= needed for idle_s, needed in wanted), SETTLE_TIMEOUT_S, interval=0.02)
