"""Command line: `python -m harness sweep [--check]`, `python -m harness plan FILE`,
`python -m harness drift OLD.json NEW.json [--markdown]`, `python -m harness summary OBS.json [--drift OLD.json]`,
`python -m harness strength OBS.json [--min PERCENT]`, `python -m harness schema [--output FILE]`,
`python -m harness merge OUT.json SHARD.json...`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness")
    commands = parser.add_subparsers(dest="command", required=True)
    sweep = commands.add_parser("sweep", help="remove what mailhops runs left behind: of runs that ended, and what "
                                              "--keep left up (a live run's things only with --all)")
    sweep.add_argument("--check", action="store_true",
                       help="remove nothing; fail (exit 1) and list what is left, if anything")
    sweep.add_argument("--all", action="store_true", dest="everything",
                       help="also remove what runs still going own (they will fail)")
    plan = commands.add_parser("plan", help="validate scenario files and print their plans; starts nothing")
    plan.add_argument("files", nargs="+", type=Path)
    coverage = commands.add_parser("coverage", help="write docs/COVERAGE.md from scenarios/")
    coverage.add_argument("--scenarios", type=Path, default=ROOT / "scenarios")
    coverage.add_argument("--output", type=Path, default=ROOT / "docs" / "COVERAGE.md")
    drift = commands.add_parser("drift", help="what changed between two observation files (--observations); "
                                              "always exits 0")
    drift.add_argument("old", type=Path)
    drift.add_argument("new", type=Path)
    drift.add_argument("--markdown", action="store_true", help="markdown tables instead of plain text")
    summary = commands.add_parser("summary", help="an observation file as a GitHub step summary (markdown)")
    summary.add_argument("observations", type=Path)
    summary.add_argument("--drift", type=Path, metavar="OLD", help="append the drift from this older run")
    strength = commands.add_parser("strength", help="perturb every observed hop value of an observation file and "
                                                    "report what no check catches; starts nothing")
    strength.add_argument("observations", type=Path)
    strength.add_argument("--min", type=float, default=None, metavar="PERCENT",
                          help="exit 1 when fewer forwarding parameters than this are pinned, or any expectation "
                               "never fails")
    merge = commands.add_parser("merge", help="merge the observation files of a run's shards into one")
    merge.add_argument("output", type=Path)
    merge.add_argument("inputs", nargs="+", type=Path)
    commands.add_parser("schema", help="print the JSON Schema of the scenario format", add_help=False)
    raw = sys.argv[1:] if argv is None else argv
    if raw[:1] == ["schema"]:
        from harness.load.json_schema import main as schema_main

        return schema_main(raw[1:])
    args = parser.parse_args(raw)
    if args.command == "merge":
        from harness.report.record_file import merge_files

        print(f"{args.output}: {merge_files(args.output, args.inputs)} items from {len(args.inputs)} file(s)")
        return 0
    if args.command == "strength":
        return _strength(args.observations, args.min)
    if args.command == "drift":
        return _drift(args.old, args.new, args.markdown)
    if args.command == "summary":
        return _summary(args.observations, args.drift)
    if args.command == "sweep":
        return _sweep(args.check, args.everything)
    if args.command == "coverage":
        return _coverage(args.scenarios, args.output)
    return _plan(args.files)


def _coverage(scenarios: Path, output: Path) -> int:
    from harness.load.scenario import load_scenario
    from harness.provision.images import labelled_matrix
    from harness.report.coverage import hop_rows, markdown, table

    loaded = [load_scenario(file) for file in sorted(scenarios.rglob("*.yaml"))]
    rows = table(loaded, labelled_matrix())
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown(rows, hop_rows(loaded)))
    empty = [f"{row.protocol} {row.parameter}" for row in rows if row.empty]
    print(f"wrote {output}: {len(rows)} rows, {len(empty)} without a scenario{': ' if empty else ''}{', '.join(empty)}")
    return 1 if empty else 0


def _drift(old: Path, new: Path, markdown: bool) -> int:
    from harness.report.drift import drift, drift_markdown, drift_text
    from harness.report.record_file import load

    result = drift(load(old), load(new))
    sys.stdout.write(drift_markdown(result) if markdown else drift_text(result))
    return 0


def _strength(observations: Path, minimum: float | None) -> int:
    from harness.report.record_file import load
    from harness.report.strength import strength, text

    report = strength(load(observations))
    sys.stdout.write(text(report))
    if minimum is not None and (report.share() < minimum or report.never_failing):
        return 1
    return 0


def _summary(observations: Path, old: Path | None) -> int:
    from harness.report.drift import drift, drift_markdown
    from harness.report.record_file import load
    from harness.report.summary import STEP_SUMMARY_LIMIT, summary_markdown

    doc = load(observations)
    appendix = "" if old is None else "\n" + drift_markdown(drift(load(old), doc), limit=STEP_SUMMARY_LIMIT // 4)
    sys.stdout.write(summary_markdown(doc, limit=STEP_SUMMARY_LIMIT - len(appendix.encode())) + appendix)
    return 0


def _sweep(check: bool, everything: bool) -> int:
    import docker

    from harness.provision.labels import should_remove, sweep

    client = docker.from_env(timeout=60)
    if not check:
        print(f"removed {sweep(client, everything=everything, with_kept=True)} container(s)/network(s)")
        left = _labelled(client)
        refused = [name for name, labels in left if should_remove(labels, None, everything, with_kept=True)]
        for name in refused:
            print(f"not removed, the engine refused: {name} (a network with a stale endpoint: restart dockerd)")
        if live := len(left) - len(refused):
            print(f"left alone: {live} container(s)/network(s) of runs still going (--all removes them too)")
        return 1 if refused else 0
    left = _labelled(client)
    for name, _ in left:
        print(f"left behind: {name}")
    print("nothing left behind" if not left else f"{len(left)} thing(s) left behind")
    return 1 if left else 0


def _labelled(client: docker.DockerClient) -> list[tuple[str, dict[str, str]]]:
    """Every labelled container and network: `container NAME` / `network NAME`, with its labels."""
    from harness.provision.labels import labelled_containers, labelled_networks

    left = [(f"container {c['Names'][0].lstrip('/')}", c.get("Labels") or {}) for c in labelled_containers(client)]
    return left + [(f"network {n['Name']}", n.get("Labels") or {}) for n in labelled_networks(client)]


def _plan(files: list[Path]) -> int:
    from harness.load.scenario import ScenarioError, load_scenario
    from harness.plan.topology import plan
    from harness.plan.versions import matrix, selected_combinations

    status = 0
    for file in files:
        try:
            scenario = load_scenario(file)
        except ScenarioError as exc:
            print(exc, file=sys.stderr)
            status = 2
            continue
        for combo in selected_combinations(scenario, {}, releases_of=matrix(strict=False)):
            the_plan = plan(scenario, {r.family: r.major for r in combo.releases}, "10.99.0.0/24",
                            "fd00:99::/64" if scenario.ipv6 else None)
            print(f"{scenario.name} [{combo.label}]")
            for chain in the_plan.chains():
                print("  chain: " + " -> ".join(chain))
            for node in the_plan.nodes.values():
                trust = ", ".join(node.trusted_networks) or "-"
                print(f"  {node.name:<12} {node.describe():<16} {node.address:<12} -> {node.spec.to or '-':<10} "
                      f"trusts {trust}")
    return status


if __name__ == "__main__":
    sys.exit(main())
