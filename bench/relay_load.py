"""Benchmark: the relay under load, as a local process on the loopback (no container).

    .venv/bin/python bench/relay_load.py [--sessions 1,50,500] [--rounds 10] [--pace 0.5] [--modes inject,pass]
                                         [--sink local|capture]

The sink is, by default, a minimal IMAP server in this process's own event loop (greeting, ID, NOOP, LOGOUT),
which keeps every connection's IDs; `--sink capture` takes the capture relay instead (a third Python process
with a thread per session, which on two cores competes with the relay for the CPU and is measured with it).
For each mode (`inject`, `pass`) a relay of that mode runs in front of the sink, and for each level of
concurrency N the same load runs twice, interleaved: straight to the sink, then through the relay. All N
sessions open at once (connect, greeting, their own `ID` with a unique `x-session-id` and `x-originating-ip`;
timed per session: the opening storm), and once every one is open, each does `--rounds` NOOPs one `--pace`
seconds apart (the sessions spread evenly over one pace); once every one is done, each sends LOGOUT. So the
NOOPs' round trips are timed with N sessions open, apart from the storms of opening and closing them (in which
the relay's per-session threads take the interpreter lock from its pump). Prints per mode and N: the opening
times, the NOOP round trip's p50, p99 and max straight and through the relay, the added latency (relay minus
straight at each percentile), sessions per second, the relay's CPU time and peak memory, and the
cross-talk check: at the sink, every session's own ID arrived on a connection of its own, with its own address
(inject: after the relay's injected ID), none on another's; sessions that did not complete are lost. The last
line is the headline: `relay_load: p99 0.8 ms at 500 sessions, cross-talk 0, lost 0` (the worst mode at the
largest N).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness.protocol.imap import ImapParseError, parse_command, parse_id_args  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 30.0
INJECTED = [["x-originating-ip", "203.0.113.7"], ["x-session-id", "front-injected"], ["x-proxy-ttl", "5"]]


class RelayProcess:
    """`python -m harness.relay` with a config, and the JSON events it prints, read from a file: a reader thread
    here would take the interpreter lock from the event loop that times the round trips once per record."""

    def __init__(self, config: dict[str, Any]):
        env = {**os.environ, "MAILHOPS_RELAY": json.dumps(config)}
        self._out = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([sys.executable, "-m", "harness.relay"], cwd=ROOT, env=env,
                                        stdout=self._out, text=True)
        self.events: list[dict[str, Any]] = []
        self._read_to = 0
        self.port = int(self.wait_for("ready")["port"])

    def _read(self) -> int:
        """Takes the complete lines written since the last read; how many."""
        self._out.seek(self._read_to)
        text = self._out.read()
        complete = text[:text.rfind("\n") + 1]
        self._read_to += len(complete.encode())
        records = [json.loads(line) for line in complete.splitlines()]
        self.events += records
        return len(records)

    def wait_for(self, event: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            self._read()
            found = next((record for record in self.events if record["event"] == event), None)
            if found is not None:
                return found
            if self.process.poll() is not None:
                raise SystemExit(f"relay exited before {event}")
            time.sleep(0.01)
        raise SystemExit(f"relay: no {event} within {TIMEOUT:g}s")

    def drain(self, quiet_s: float = 0.3) -> list[dict[str, Any]]:
        """Every event printed until none has come for `quiet_s`."""
        while self._read():
            time.sleep(quiet_s)
        return self.events

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=TIMEOUT)
        self._out.close()


class LocalSink:
    """The default sink: a minimal IMAP server in the benchmark's own event loop, which keeps the IDs each
    connection sent in the shape of the capture relay's `received` records."""

    GREETING = b"* OK [CAPABILITY IMAP4rev1 ID LITERAL+] mailhops bench sink ready\r\n"

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.port = 0
        self._conn = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conn += 1
        conn = self._conn
        writer.write(self.GREETING)
        try:
            while line := await asyncio.wait_for(reader.readline(), TIMEOUT):
                try:
                    command = parse_command(line.decode().rstrip("\r\n"))
                except ImapParseError:
                    writer.write(b"* BAD malformed command\r\n")
                    continue
                if command.name == "ID":
                    self.events.append({"event": "received", "command": "ID", "conn": conn,
                                        "id": [list(pair) for pair in parse_id_args(command.args)]})
                    writer.write(f"* ID NIL\r\n{command.tag} OK ID completed.\r\n".encode())
                elif command.name == "LOGOUT":
                    writer.write(f"* BYE logging out\r\n{command.tag} OK LOGOUT completed.\r\n".encode())
                    break
                else:
                    writer.write(f"{command.tag} OK {command.name} completed.\r\n".encode())
        except (TimeoutError, OSError):
            pass
        finally:
            writer.close()

    def drain(self) -> list[dict[str, Any]]:
        return self.events

    def stop(self) -> None:
        self._server.close()


@dataclass
class Load:
    rtts: list[float] = field(default_factory=list)
    """The NOOPs' round trips, every session open."""
    setups: list[float] = field(default_factory=list)
    """Each session's connect, greeting and ID, all sessions opening at once."""
    completed: set[int] = field(default_factory=set)
    seconds: float = 0.0


class Meeting:
    """Where every session waits for all the others (one that failed counts as arrived)."""

    def __init__(self, sessions: int):
        self._left = sessions
        self._all = asyncio.Event()

    async def arrive(self) -> None:
        self.leave()
        await self._all.wait()

    def leave(self) -> None:
        self._left -= 1
        if self._left <= 0:
            self._all.set()


async def session(port: int, index: int, sessions: int, tag: str, rounds: int, pace: float, load: Load,
                  meetings: tuple[Meeting, Meeting]) -> None:
    """Opens with the others, then its NOOP rounds once every session is open, then LOGOUT once every session
    has done its rounds: the round trips are timed with N sessions open, apart from their opening and closing."""
    pending = list(meetings)
    started = time.perf_counter()
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    try:
        async def line() -> bytes:
            return await asyncio.wait_for(reader.readline(), TIMEOUT)

        async def command(text: str, tag_: str) -> float:
            started = time.perf_counter()
            writer.write(f"{tag_} {text}\r\n".encode())
            await writer.drain()
            while not (await line()).startswith(f"{tag_} ".encode()):
                pass
            return time.perf_counter() - started

        if not (await line()).startswith(b"* OK"):
            return
        address = f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"
        await command(f'ID ("x-session-id" "{tag}-{index}" "x-originating-ip" "{address}")', "a1")
        load.setups.append(time.perf_counter() - started)
        await pending.pop(0).arrive()
        await asyncio.sleep(pace * index / sessions)  # spread the sessions evenly over one pace
        for round_ in range(rounds):
            load.rtts.append(await command("NOOP", f"n{round_}"))
            await asyncio.sleep(pace)
        await pending.pop(0).arrive()
        await command("LOGOUT", "z")
        load.completed.add(index)
    finally:
        for meeting in pending:
            meeting.leave()
        writer.close()


async def run_load(port: int, sessions: int, tag: str, rounds: int, pace: float) -> Load:
    load = Load()
    meetings = (Meeting(sessions), Meeting(sessions))
    started = time.perf_counter()
    results = await asyncio.gather(*(session(port, i, sessions, tag, rounds, pace, load, meetings)
                                     for i in range(sessions)), return_exceptions=True)
    load.seconds = time.perf_counter() - started
    for result in results:
        if isinstance(result, BaseException):
            print(f"  a session failed: {type(result).__name__}: {result}", file=sys.stderr)
    return load


def cross_talk(events: list[dict[str, Any]], tag: str, sessions: int, injected: bool) -> tuple[int, set[int]]:
    """(connections whose IDs are not exactly one session's own, the sessions seen whole at the sink)."""
    by_conn: dict[int, list[dict[str, str]]] = {}
    for event in events:
        if event.get("event") == "received" and event.get("command") == "ID":
            by_conn.setdefault(event["conn"], []).append(dict(event.get("id") or []))
    bad, seen = 0, set()
    for ids in by_conn.values():
        own = [fields for fields in ids if fields.get("x-session-id", "").startswith(f"{tag}-")]
        if not own:
            continue
        expected_injected = [fields for fields in ids if fields.get("x-session-id") == "front-injected"]
        index = int(own[0]["x-session-id"].rpartition("-")[2])
        address = f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"
        if len(own) != 1 or own[0].get("x-originating-ip") != address or index in seen or (
                injected and len(expected_injected) != 1):
            bad += 1
        seen.add(index)
    return bad, seen & set(range(sessions))


def spread(seconds: list[float]) -> str:
    return f"p50 {percentile(seconds, 0.5) * 1000:.3f} p99 {percentile(seconds, 0.99) * 1000:.3f} ms"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", default="1,50,500")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--pace", type=float, default=0.5)
    parser.add_argument("--modes", default="inject,pass")
    parser.add_argument("--sink", choices=("local", "capture"), default="local")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 500 sessions: 3 sockets each across processes
    gc.disable()  # the instrument must not pause: a collection over 500 sessions' objects takes milliseconds
    try:
        return asyncio.run(measure(args))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def measure(args: argparse.Namespace) -> int:
    levels = [int(n) for n in args.sessions.split(",")]
    sink: LocalSink | RelayProcess
    if args.sink == "local":
        sink = LocalSink()
        await sink.start()
    else:
        sink = RelayProcess({"name": "sink", "protocol": "imap", "mode": "capture", "timeout": TIMEOUT,
                             "listen": {"host": "127.0.0.1", "port": 0}})
    print(f"sink: {args.sink}")
    headline = (0.0, 0, 0, "")
    try:
        for mode in args.modes.split(","):
            config: dict[str, Any] = {"name": mode, "protocol": "imap", "mode": mode, "timeout": TIMEOUT,
                                      "listen": {"host": "127.0.0.1", "port": 0},
                                      "upstream": {"host": "127.0.0.1", "port": sink.port}}
            if mode == "inject":
                config["id"] = INJECTED
            relay = RelayProcess(config)
            try:
                for sessions in levels:
                    tag = f"{mode}{sessions}x{time.monotonic_ns()}"
                    direct = await run_load(sink.port, sessions, tag + "d", args.rounds, args.pace)
                    cpu_before = relay.cpu_s()
                    through = await run_load(relay.port, sessions, tag, args.rounds, args.pace)
                    cpu = relay.cpu_s() - cpu_before
                    bad, seen = cross_talk(sink.drain(), tag, sessions, injected=mode == "inject")
                    lost = sessions - len(through.completed & seen)
                    added = {q: (percentile(through.rtts, q) - percentile(direct.rtts, q)) * 1000
                             for q in (0.5, 0.99, 1.0)}
                    print(f"{mode:<6} {sessions:>4} sessions opening at once: connect, greeting and ID straight "
                          f"{spread(direct.setups)}, through the relay {spread(through.setups)}")
                    print(f"{mode:<6} {sessions:>4} sessions open: NOOP round trip straight p50 "
                          f"{percentile(direct.rtts, 0.5) * 1000:.3f} p99 {percentile(direct.rtts, 0.99) * 1000:.3f}"
                          f" max {max(direct.rtts, default=0) * 1000:.3f} ms; through the relay p50 "
                          f"{percentile(through.rtts, 0.5) * 1000:.3f} p99 {percentile(through.rtts, 0.99) * 1000:.3f}"
                          f" max {max(through.rtts, default=0) * 1000:.3f} ms; added p50 {added[0.5]:.3f} p99 "
                          f"{added[0.99]:.3f} max {added[1.0]:.3f} ms; {sessions / through.seconds:.1f} sessions/s;"
                          f" relay cpu {cpu:.2f}s, peak rss {relay.peak_rss_mib():.1f} MiB; cross-talk {bad}, "
                          f"lost {lost}", flush=True)
                    if sessions == max(levels):
                        worst = max(headline[0], added[0.99]) if headline[3] else added[0.99]
                        which = mode if worst == added[0.99] else headline[3]
                        headline = (worst, headline[1] + bad, headline[2] + lost, which)
            finally:
                relay.stop()
    finally:
        sink.stop()
    p99, bad, lost, mode = headline
    print(f"relay_load: p99 {p99:.2f} ms at {max(levels)} sessions, cross-talk {bad}, lost {lost} "
          f"(added, worst mode: {mode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
