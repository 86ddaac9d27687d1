"""Readable failure text: the hop chain, each hop's expected vs observed fields, client transcripts, log tails."""

from __future__ import annotations

from harness.check.expect import FieldCheck
from harness.load.scenario import CLIENT, Scenario
from harness.report.result import RunResult

LOG_TAIL_LINES = 25


def failure_text(result: RunResult, label: str) -> str:
    plan = result.plan
    scenario = plan.scenario
    sections = [
        f"scenario {scenario.name} [{label}] failed ({scenario.file})",
        "servers: " + ", ".join(f"{family} {version}" for family, version in result.server_versions.items()),
        *("chain: " + " -> ".join(_hop_name(result, name) for name in chain) for chain in plan.chains()),
        "",
        *_health_section(result),
        *_check_sections(result),
        "client sessions:",
        *_transcripts(result),
        "",
        f"node logs (last {LOG_TAIL_LINES} lines each):",
        *_log_tails(result),
    ]
    return "\n".join(sections)


def _health_section(result: RunResult) -> list[str]:
    health = result.health
    if not health.undeclared and not health.known_missing:
        return []
    lines = ["server health:"]
    lines += [f"  CRASH {crash.node}: {crash.line.strip()}" for crash in health.undeclared]
    lines += [f"  FIXED? a declared known issue did not happen (strict): {issue.reason}"
              for issue in health.known_missing]
    return [*lines, ""]


def _hop_name(result: RunResult, name: str) -> str:
    if name == CLIENT:
        return f"client ({result.plan.client_address})"
    node = result.plan.nodes[name]
    version = result.plan.version_of(name)
    return f"{name} [{node.describe()}{' ' + version if version else ''}] ({node.address})"


def _senders_of(result: RunResult, name: str) -> list[str]:
    senders = [other for other, node in result.plan.nodes.items() if node.spec.to == name]
    senders += [CLIENT for session in result.plan.scenario.clients if session.to == name][:1]
    return senders


def _check_sections(result: RunResult) -> list[str]:
    scenario = result.plan.scenario
    by_place: dict[str, list[FieldCheck]] = {}
    for check in result.verdict.checks:
        by_place.setdefault(check.where, []).append(check)
    ordered = [name for chain in result.plan.chains() for name in chain if name in by_place]
    ordered += [place for place in by_place if place not in ordered]
    lines = []
    for place in dict.fromkeys(ordered):
        if place in result.nodes:
            observed = result.nodes[place]
            senders = ", ".join(_senders_of(result, place)) or "nobody"
            lines.append(f"hop {place} [{observed.description}] {result.plan.nodes[place].address}, "
                         f"received from {senders}:")
        else:
            lines.append(f"{place}:")
        width = max(len(_field_name(c)) for c in by_place[place])
        for check in by_place[place]:
            name = _field_name(check)
            where = _yaml_line(scenario, place, check)
            observed_text = "(not observed)" if check.observed is None else check.observed
            lines.append(f"  {'ok  ' if check.ok else 'FAIL'} {name:<{width}}  expected {check.expected:<24} "
                         f"observed {observed_text}{where}")
        lines.append("")
    return lines


def _field_name(check: FieldCheck) -> str:
    return check.category if check.category == check.field else f"{check.category}.{check.field}"


def _yaml_line(scenario: Scenario, place: str, check: FieldCheck) -> str:
    if place in scenario.expect and check.path:
        return f"  ({scenario.file.name}:{scenario.line_of('expect', place, *check.path)})"
    return ""


def _transcripts(result: RunResult) -> list[str]:
    lines = []
    for transcript in result.clients:
        error = f"  ERROR {transcript.error}" if transcript.error else ""
        lines.append(f"  [{transcript.session}] -> {transcript.to}{error}")
        lines += [f"      {line}" for line in transcript.lines]
    return lines


def _log_tails(result: RunResult) -> list[str]:
    lines = []
    for name, observed in result.nodes.items():
        lines.append(f"--- {name} [{observed.description}] ---")
        lines += [f"  {line}" for line in observed.log.splitlines()[-LOG_TAIL_LINES:]]
    return lines
