"""How strong a run's checks are (`mailhops strength OBS.json`): every value a hop was observed to receive is
changed, removed or duplicated in turn and the scenario's checks are re-run on the observations of the file.
A forwarding parameter is pinned at a hop when changing it and removing it both make a check fail; an
expectation that passes on every perturbation and on empty observations can never fail. Pure code: no Docker.

Changes are of two kinds: one that breaks the value's shape (`51234` -> `51234~`), which an exact value or a
shape such as `{regex: "\\d+"}` catches, and one that keeps it (`51234` -> `51235`), which only an exact value
catches; a parameter caught by the second is pinned exactly."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.check.expect import (
    COUNT,
    EACH,
    KEY_CASE,
    PSEUDO_FIELDS,
    FieldCheck,
    check_client,
    check_node,
    check_scenario,
)
from harness.check.matchers import Context, Matcher, resolve
from harness.load.scenario import NodeExpect, Scenario, load_scenario
from harness.observe.events import ClientTranscript, Event, NodeObservation
from harness.protocol.table import IMAP_PARAMETERS, PROTOCOLS

XCLIENT_ATTRIBUTES = frozenset(
    parameter.partition("=")[0] for row in PROTOCOLS.values() if row.forwards_with == "xclient"
    for parameter in row.parameters)
"""The XCLIENT attributes of the forwarding spec (ADDR, PORT, SESSION, TTL, FORWARD, HELO, LOGIN, ...)."""
LOGIN_FIELDS = frozenset({"rip", "rport", "lip", "session"})
"""The elements of a login line that carry what a hop was told about the client."""
VIEWS: dict[str, dict[str, str]] = {
    "id": {"x-originating-ip": "address", "x-originating-port": "port", "x-connected-ip": "local address",
           "x-connected-port": "local port", "x-session-id": "session", "x-proxy-ttl": "ttl"},
    "xclient": {"ADDR": "address", "PORT": "port", "DESTADDR": "local address", "DESTPORT": "local port",
                "SESSION": "session", "TTL": "ttl"},
    "login": {"rip": "address", "rport": "port", "lip": "local address", "session": "session"},
    "ttl": {"ttl": "ttl"},
}
VIEWS["proxied"] = VIEWS["login"]
"""Where one received parameter shows at a hop: Dovecot 2.3 logs the ID it received and the login line that
follows from it, a capture records the XCLIENT. A parameter counts once per hop and protocol, and is pinned
when a check catches a change in any place it shows."""


def is_spec_parameter(category: str, name: str) -> bool:
    """Whether a field of an observed event is a parameter of the forwarding spec (the figure counts these)."""
    if category == "id":
        return name.lower() in IMAP_PARAMETERS or name.lower().startswith("x-forward-")
    if category == "xclient":
        return name.upper() in XCLIENT_ATTRIBUTES
    if category in ("login", "proxied"):
        return name in LOGIN_FIELDS or name.startswith("fwd_")
    return category in ("forward", "ttl")


def parameter_of(category: str, name: str) -> str:
    """The parameter a spec field shows: `address` for x-originating-ip, ADDR and a login line's rip,
    `forward <name>` for x-forward-<name>, fwd_<name> and a forwarded field, else the attribute itself."""
    if category == "id" and name.lower().startswith("x-forward-"):
        return "forward " + name[len("x-forward-"):].lower()
    if category in ("login", "proxied") and name.startswith("fwd_"):
        return "forward " + name[len("fwd_"):]
    if category == "forward":
        return "forward " + name
    views = VIEWS.get(category, {})
    key = name.upper() if category == "xclient" else name.lower()
    return views.get(key, key)


@dataclass(frozen=True)
class Parameter:
    """One field of one kind of event at one hop of one item."""

    item: str
    node: str
    name: str
    """What `parameter_of` calls it."""
    protocol: str
    version: str
    shown: tuple[str, ...]
    """Where it shows: `category.field` of each place."""


@dataclass
class Report:
    pinned: list[Parameter] = field(default_factory=list)
    exact: list[Parameter] = field(default_factory=list)
    unpinned: list[tuple[Parameter, str]] = field(default_factory=list)
    """With what still passed: `changed`, `removed`."""
    never_failing: list[tuple[str, FieldCheck]] = field(default_factory=list)
    unassertable: list[Parameter] = field(default_factory=list)
    """Observed only where the scenario may not expect anything (Dovecot 2.3's logged ID at a node of a
    scenario that runs on 2.4 too): not counted; a capture behind the node is where to pin them."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    items: int = 0

    def share(self) -> float:
        total = len(self.pinned) + len(self.unpinned)
        return 100.0 if total == 0 else 100.0 * len(self.pinned) / total

    def by_protocol_version(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(protocol, version) -> (pinned, observed)."""
        table: dict[tuple[str, str], list[int]] = {}
        for parameter in self.pinned:
            table.setdefault((parameter.protocol, parameter.version), [0, 0])[0] += 1
        for parameter in [*self.pinned, *(p for p, _ in self.unpinned)]:
            table.setdefault((parameter.protocol, parameter.version), [0, 0])[1] += 1
        return {key: (pinned, total) for key, (pinned, total) in sorted(table.items())}


@dataclass(frozen=True)
class _Item:
    """An item of the observations file, ready to be checked again."""

    title: str
    scenario: Scenario
    context: Context
    nodes: Mapping[str, NodeObservation]
    clients: tuple[ClientTranscript, ...]


def strength(doc: Mapping[str, Any], load: Callable[[Path], Scenario] | None = None) -> Report:
    """Perturb every passing item of an observations file (see `harness.report.record_file.load`)."""
    cache: dict[str, Scenario] = {}

    def scenario_of(file: str) -> Scenario:
        if file not in cache:
            cache[file] = (load or load_scenario)(Path(file))
        return cache[file]

    report = Report()
    for record in doc["items"]:
        title = f"{record['scenario']} [{record['label']}]"
        if record["outcome"] != "passed":
            continue
        if "context" not in record:
            report.skipped.append((title, "recorded without the values the checks need (an older file)"))
            continue
        item = _item(record, title, scenario_of(record["file"]))
        baseline = check_scenario(item.scenario, item.context, item.nodes, item.clients)
        if not baseline.passed:
            failed = ", ".join(f"{c.where} {c.category}.{c.field}" for c in baseline.failures())
            report.skipped.append((title, f"its checks fail on the recorded observations: {failed}"))
            continue
        report.items += 1
        _measure(item, baseline.checks, report)
    return report


def _item(record: Mapping[str, Any], title: str, scenario: Scenario) -> _Item:
    raw = record["context"]
    context = Context(raw["addresses"], raw["versions"], raw["node_versions"], raw["servers"])
    nodes = {name: NodeObservation(name, node.get("description", ""),
                                   tuple(Event(e["kind"], dict(e["fields"])) for e in node["received"]),
                                   kind_is_server=node.get("kind") in _server_kinds())
             for name, node in record["nodes"].items()}
    clients = tuple(ClientTranscript(index, client["to"], replies=dict(client["received"]), error=client["error"])
                    for index, client in enumerate(record["clients"]))
    return _Item(title, scenario, context, nodes, clients)


def _server_kinds() -> set[str]:
    from harness.kinds import registry

    return {kind.name for kind in registry.server_kinds()}


def _key(check: FieldCheck) -> Key:
    return check.where, check.category, check.field, check.path


Key = tuple[str, str, str, tuple[str | int, ...]]


def _measure(item: _Item, baseline: Sequence[FieldCheck], report: Report) -> None:
    failed: set[Key] = set()
    for name, observed in item.nodes.items():
        _measure_node(item, name, observed, failed, report)
    empty_nodes = {name: _with_events(node, ()) for name, node in item.nodes.items()}
    empty_clients = tuple(ClientTranscript(c.session, c.to) for c in item.clients)
    on_empty = check_scenario(item.scenario, item.context, empty_nodes, empty_clients)
    failed.update(_key(check) for check in on_empty.checks if not check.ok)
    for index, transcript in enumerate(item.clients):
        failed.update(_client_failures(item, index, transcript))
    report.never_failing += [(item.title, check) for check in baseline if _key(check) not in failed]


def _measure_node(item: _Item, name: str, observed: NodeObservation, failed: set[Key], report: Report) -> None:
    """Perturb one node's observations; record in `failed` every check that failed on some perturbation."""
    expect = item.scenario.expect.get(name)
    context = item.context.for_node(name)

    def fails(events: tuple[Event, ...]) -> bool:
        if expect is None:
            return False
        checks = check_node(name, expect, context, _with_events(observed, events))
        failed.update(_key(check) for check in checks if not check.ok)
        return not all(check.ok for check in checks)

    # (protocol, parameter) -> [(where it shows, caught by a change of shape, of value, by its removal)]
    views: dict[tuple[str, str], list[tuple[str, bool, bool, bool]]] = {}
    assertable: set[tuple[str, str]] = set()
    for (category, service), names in _fields(observed.events).items():
        kind = _Kind(category, service)
        for field_name in names:
            broken = fails(_changed(observed.events, kind, field_name, _break))
            kept = fails(_changed(observed.events, kind, field_name, _nudge))
            removed = fails(_removed(observed.events, kind, field_name))
            if is_spec_parameter(category, field_name):
                key = (service or _protocol(item, name, category), parameter_of(category, field_name))
                views.setdefault(key, []).append((f"{category}.{field_name}", broken, kept, removed))
                if _may_expect(item.scenario, name, category):
                    assertable.add(key)
        fails(_duplicated(observed.events, kind))
    if expect is not None:
        for events in _added(expect, context, observed.events):
            fails(events)
    for (protocol, parameter_name), shown in views.items():
        parameter = Parameter(item.title, name, parameter_name, protocol, _version(item.context, name),
                              tuple(where for where, *_ in shown))
        if (protocol, parameter_name) not in assertable:
            report.unassertable.append(parameter)
        elif any((broken or kept) and removed for _, broken, kept, removed in shown):
            report.pinned.append(parameter)
            if any(kept and removed for _, _, kept, removed in shown):
                report.exact.append(parameter)
        else:
            changed = any(broken or kept for _, broken, kept, _ in shown)
            report.unpinned.append((parameter, "removed" if changed else "changed"))


def _may_expect(scenario: Scenario, node: str, category: str) -> bool:
    """Whether the scenario may expect `category` at the node (the loader's rule: a kind shows some categories,
    Dovecot's logged ID only where the scenario runs on 2.3 alone)."""
    from harness.kinds import registry

    spec = scenario.nodes.get(node)
    if spec is None:
        return False
    kind = registry.get(spec.kind)
    return kind.observable_problem(spec, category, scenario.servers.get(kind.family) if kind.family else None) is None


def _client_failures(item: _Item, index: int, transcript: ClientTranscript) -> Iterator[Key]:
    session = item.scenario.clients[index]
    context = item.context.for_node(session.to)
    variants = [{**transcript.replies, key: change(value)} for key, value in transcript.replies.items()
                for change in (_break, _nudge)]
    variants += [{**transcript.replies, key: "added"} for key, value in session.expect if value is not None
                 and key not in transcript.replies]
    for replies in variants:
        changed = ClientTranscript(transcript.session, transcript.to, replies=replies)
        yield from (_key(c) for c in check_client(index, session.expect, context, changed) if not c.ok)


def _with_events(node: NodeObservation, events: tuple[Event, ...]) -> NodeObservation:
    return NodeObservation(node.node, node.description, events, node.log, node.kind_is_server)


@dataclass(frozen=True)
class _Kind:
    """The events perturbed together: one category, of one service where the events name theirs (a backend's
    IMAP and POP3 login lines are two parameters each)."""

    category: str
    service: str | None

    def holds(self, event: Event) -> bool:
        return event.kind == self.category and event.fields.get("service") == self.service


def _fields(events: Iterable[Event]) -> dict[tuple[str, str | None], list[str]]:
    """(category, service) -> the field names, in the order first seen."""
    found: dict[tuple[str, str | None], dict[str, None]] = {}
    for event in events:
        found.setdefault((event.kind, event.fields.get("service")), {}).update(dict.fromkeys(event.fields))
    return {key: list(names) for key, names in found.items()}


def _changed(events: Sequence[Event], kind: _Kind, name: str, change: Callable[[str], str]) -> tuple[Event, ...]:
    return tuple(Event(e.kind, {**e.fields, name: change(e.fields[name])}, e.line)
                 if kind.holds(e) and name in e.fields else e for e in events)


def _removed(events: Sequence[Event], kind: _Kind, name: str) -> tuple[Event, ...]:
    return tuple(Event(e.kind, {k: v for k, v in e.fields.items() if k != name}, e.line)
                 if kind.holds(e) else e for e in events)


def _duplicated(events: Sequence[Event], kind: _Kind) -> tuple[Event, ...]:
    return tuple(events) + tuple(e for e in events if kind.holds(e))


def _added(expect: NodeExpect, context: Context, events: Sequence[Event]) -> Iterator[tuple[Event, ...]]:
    """Observations with what an expectation says must not be there: the field an `absent` expects away, given
    a value; more events than a bounded count allows, with values that the fields beside it match; under
    `each: true`, an event with one of the fields broken."""
    ttl = getattr(expect, "ttl", None)
    if ttl is not None and (matcher := resolve(ttl, context)) is not None and matcher.kind == "absent":
        yield (*events, Event("ttl", {"ttl": "added"}))
    for category in expect.given():
        case = KEY_CASE.get(category, str)
        for _, wanted in expect.entries(category) if category != "ttl" else []:
            example: dict[str, str] = {}
            for key, value in wanted.items():
                matcher = resolve(value, context)
                if matcher is None or key in (COUNT, EACH):
                    continue
                name = key if key in PSEUDO_FIELDS else case(key)
                if matcher.kind == "absent":
                    yield _changed_or_added(events, category, name)
                elif (text := example_of(matcher)) is not None:
                    example[name] = text
            if COUNT in wanted:
                count = resolve(wanted[COUNT], context)
                yield (*events, *(Event(category, dict(example)) for _ in range(_beyond(count))))
            if wanted.get(EACH) is True and example:
                first = next(iter(example))
                yield (*events, Event(category, {**example, first: _break(example[first])}))


def _beyond(count: Matcher | None) -> int:
    """How many events to add to break a bounded count: one more than its upper bound (two if it has none)."""
    if count is not None and count.kind == "range" and count.value[1] is not None:
        return int(count.value[1]) + 1
    if count is not None and count.kind == "equals" and count.value.isdigit():
        return int(count.value) + 1
    return 2


def example_of(matcher: Matcher) -> str | None:
    """A value the matcher matches (None for `absent`, or a pattern too involved to make an example of)."""
    if matcher.kind == "equals":
        return str(matcher.value)
    if matcher.kind == "present":
        return "added"
    if matcher.kind == "one_of":
        return str(matcher.value[0])
    if matcher.kind == "not":
        return str(matcher.value) + "~"
    if matcher.kind == "range":
        low, high = matcher.value
        return str(low if low is not None else high)
    if matcher.kind == "regex":
        text = _regex_example(matcher.value)
        return text if text is not None and matcher.matches(text) else None
    return None


def _regex_example(pattern: str) -> str | None:
    """The shortest string of a simple pattern (literals, classes, `\\d`, `.`, repeats, groups, the first branch);
    None for anything else."""
    import re._parser as parser  # the stdlib's own regex parser (3.11+)

    try:
        return _from_parsed(parser.parse(pattern))
    except (re.error, ValueError):
        return None


def _from_parsed(items: Any) -> str:
    import re._constants as c

    out = []
    for op, arg in items:
        if op is c.LITERAL:
            out.append(chr(arg))
        elif op is c.ANY:
            out.append("x")
        elif op is c.IN:
            out.append(_class_member(arg))
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
            low, _, body = arg
            out.append(_from_parsed(body) * max(low, 1))
        elif op is c.SUBPATTERN:
            out.append(_from_parsed(arg[-1]))
        elif op is c.BRANCH:
            out.append(_from_parsed(arg[1][0]))
        elif op is c.CATEGORY:
            out.append(_category_member(arg))
        elif op is not c.AT:
            raise ValueError(f"no example for {op}")
    return "".join(out)


def _class_member(members: Any) -> str:
    import re._constants as c

    for op, arg in members:
        if op is c.LITERAL:
            return chr(arg)
        if op is c.RANGE:
            return chr(arg[0])
        if op is c.CATEGORY:
            return _category_member(arg)
    raise ValueError("no example for a negated or empty class")


def _category_member(category: Any) -> str:
    import re._constants as c

    members = {c.CATEGORY_DIGIT: "1", c.CATEGORY_WORD: "a", c.CATEGORY_SPACE: " "}
    if category not in members:
        raise ValueError(f"no example for {category}")
    return members[category]


def _changed_or_added(events: Sequence[Event], category: str, name: str) -> tuple[Event, ...]:
    if any(e.kind == category for e in events):
        return tuple(Event(e.kind, {**e.fields, name: "added"}, e.line) if e.kind == category else e for e in events)
    return (*events, Event(category, {name: "added"}))


def _break(value: str) -> str:
    return value + "~"


def _nudge(value: str) -> str:
    """The same shape, another value: the last digit or letter moved on by one."""
    for index in range(len(value) - 1, -1, -1):
        char = value[index]
        if char.isdigit():
            return value[:index] + str((int(char) + 1) % 10) + value[index + 1:]
        if char.isascii() and char.isalpha():
            base = "a" if char.islower() else "A"
            return value[:index] + chr(ord(base) + (ord(char) - ord(base) + 1) % 26) + value[index + 1:]
    return value + "x"


def _protocol(item: _Item, node: str, category: str) -> str:
    """The protocol a parameter without a service arrived over: IMAP for an ID, else the node's only protocol
    or the sessions' only one."""
    if category == "id":
        return next(row.name for row in PROTOCOLS.values() if row.forwards_with == "id")
    protocols = set(item.scenario.nodes[node].protocols()) if node in item.scenario.nodes else set()
    if len(protocols) != 1:
        protocols = {session.protocol for session in item.scenario.clients}
    return protocols.pop() if len(protocols) == 1 else "mixed"


def _version(context: Context, node: str) -> str:
    versions = {**context.versions, **context.node_versions.get(node, {})}
    return ", ".join(f"{family}-{version}" for family, version in sorted(versions.items()))


def text(report: Report, limit: int = 200) -> str:
    """The report as printed: unpinned parameters per item and hop, never-failing expectations, the figures;
    the last line is the headline."""
    lines: list[str] = []
    if report.unpinned:
        lines.append(f"Parameters no expectation pins ({len(report.unpinned)}; what still passed in brackets):")
        by_hop: dict[tuple[str, str], list[str]] = {}
        for parameter, how in report.unpinned:
            by_hop.setdefault((parameter.item, parameter.node), []).append(
                f"{parameter.name} [{' '.join(parameter.shown)}] ({how})")
        for (item, node), names in list(by_hop.items())[:limit]:
            lines.append(f"  {item} {node}: {', '.join(names)}")
        if len(by_hop) > limit:
            lines.append(f"  ... and {len(by_hop) - limit} more hops")
    if report.never_failing:
        lines.append(f"Expectations that never failed ({len(report.never_failing)}):")
        for item, check in report.never_failing[:limit]:
            lines.append(f"  {item} {check.where} {check.category}.{check.field}: {check.expected}")
    if report.unassertable:
        lines.append(f"Not counted: {len(report.unassertable)} observed where the scenario may expect nothing "
                     "(pin them at a capture behind the node), e.g. "
                     + ", ".join(f"{p.item} {p.node} {p.name}" for p in report.unassertable[:3]))
    for item, why in report.skipped:
        lines.append(f"skipped {item}: {why}")
    lines.append("Pinned forwarding parameters per protocol and version (pinned/observed):")
    for (protocol, version), (pinned, total) in report.by_protocol_version().items():
        lines.append(f"  {protocol:<10} {version:<30} {pinned}/{total} {100.0 * pinned / total:.1f}%")
    total = len(report.pinned) + len(report.unpinned)
    lines.append(f"strength: {report.share():.1f}% of {total} forwarding parameters pinned "
                 f"({len(report.exact)} exactly) in {report.items} items, {len(report.never_failing)} "
                 "expectations never failing")
    return "\n".join(lines) + "\n"
