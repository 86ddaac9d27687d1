"""Command line: read the config, listen, serve until a signal ends the process."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType

from harness.relay.config import ConfigError, RelayConfig, load_config
from harness.relay.events import EventLog
from harness.relay.protocols import HANDLERS
from harness.relay.server import open_listener, serve

ENV_VAR = "MAILHOPS_RELAY"
MARK_EVENT = "mark"
EXIT_BAD_CONFIG = 2
EXIT_CANNOT_LISTEN = 1
SWITCH_INTERVAL_S = 0.0005
"""How long a thread may hold the interpreter lock while another waits for it (Python's default is 5 ms): the
pump thread, woken by a readable socket, must not wait behind session threads busy with their handshakes and
event lines; a byte's wait for the lock is the relay's added latency."""


def main(argv: list[str] | None = None) -> int:
    """Run the relay; return the process exit code."""
    args = _parse_args(argv)
    try:
        config = load_config(_config_text(args.config), protocols=HANDLERS)
    except ConfigError as err:
        print(f"mailhops relay: bad config: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    _exit_on_signals()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    log = EventLog(config.name, sys.stdout)
    _mark_on_signal(log)
    return _run(config, log)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 -m harness.relay",
        description=f"mailhops relay hop; config is JSON from ${ENV_VAR} or --config",
    )
    parser.add_argument("--config", metavar="FILE", help="read the JSON config from FILE")
    return parser.parse_args(argv)


def _config_text(path: str | None) -> str:
    if path is not None:
        try:
            with open(path, encoding="utf-8") as file:
                return file.read()
        except OSError as err:
            raise ConfigError(f"cannot read {path}: {err.strerror}") from None
    text = os.environ.get(ENV_VAR)
    if text is None:
        raise ConfigError(f"no config: set {ENV_VAR} or pass --config FILE")
    return text


def _run(config: RelayConfig, log: EventLog) -> int:
    try:
        listener = open_listener(config.listen)
    except OSError as err:
        where = f"{config.listen.host}:{config.listen.port}"
        log.emit("error", message=f"cannot listen on {where}: {err}")
        print(f"mailhops relay: cannot listen on {where}: {err}", file=sys.stderr)
        return EXIT_CANNOT_LISTEN
    with listener:
        log.emit("ready", port=listener.getsockname()[1])
        serve(listener, config, log, HANDLERS[config.protocol][config.mode])
    return 0


def _exit_on_signals() -> None:
    # As PID 1 in a container, SIGTERM is ignored unless handled, so `docker stop`
    # would wait for its kill timeout.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_now)


def _mark_on_signal(log: EventLog) -> None:
    """SIGUSR1 writes a `mark` record: once a reader sees it, it has every record written before the signal
    (the harness's log barrier). Written from a thread, as the signal may interrupt the main thread while it
    holds the log's lock."""
    def mark(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=log.emit, args=(MARK_EVENT,), name="mark", daemon=True).start()

    signal.signal(signal.SIGUSR1, mark)


def _exit_now(_signum: int, _frame: FrameType | None) -> None:
    # Every event is already flushed; session threads need no goodbye.
    os._exit(0)
