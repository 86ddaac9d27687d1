"""When the observations of a run are complete enough to give a verdict.

The rule: servers log after they answer, so a client that is done does not mean the logs are written. The
observe and check stages therefore run together, after the clients finished:
1. read every node's log and parse it into events (observe), check the expectations (check);
2. if every expectation holds, that is the verdict; otherwise read again, until SETTLE_TIMEOUT_S has passed
   since the clients finished, and the verdict is the last one;
3. but an expectation that a later line could still break (a count with an upper bound: `count: 0`, a drop
   that must not happen, `count: 1`) proves nothing while lines may still come: when the verdict holds and
   has one, and always with `complete` (an observations file is written, so two runs must record the same
   lines), first wait until no log has grown for QUIET_S (measured from the last growth: the logs are
   followed as they are written), then observe and check once more: that is the verdict. So the verdict is
   the same with and without an observations file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from harness.check.expect import Verdict
from harness.provision.probe import wait_until

SETTLE_TIMEOUT_S = float(os.environ.get("MAILHOPS_SETTLE_TIMEOUT", "8"))
QUIET_S = float(os.environ.get("MAILHOPS_QUIET", "1.0"))
"""Dovecot's auth and login processes can log a line a good half second after the last one under load (seen at
0.3 s: a run missed an auth line two others had), so a second of quiet is what complete means."""
POLL_S = 0.05

Observed = TypeVar("Observed")


def settle(observe: Callable[[], Observed], check: Callable[[Observed], Verdict],
           idle_s: Callable[[], float], complete: bool) -> tuple[Verdict, Observed]:
    """The verdict and the observations it was given on, by the rule above."""
    result: list[tuple[Verdict, Observed]] = []

    def passed() -> bool:
        observed = observe()
        result[:] = [(check(observed), observed)]
        return result[0][0].passed

    wait_until(passed, SETTLE_TIMEOUT_S, interval=POLL_S)
    if complete or result[0][0].needs_complete_logs:
        wait_for_quiet(idle_s)
        observed = observe()
        result[:] = [(check(observed), observed)]
    return result[-1]


def wait_for_quiet(idle_s: Callable[[], float]) -> None:
    """Until no log has grown for QUIET_S (at most SETTLE_TIMEOUT_S); `idle_s` says for how long none has."""
    wait_until(lambda: idle_s() >= QUIET_S, SETTLE_TIMEOUT_S, interval=0.02)
