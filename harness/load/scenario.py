"""Scenario files: YAML -> a typed, validated Scenario. Every error names the file, the line and the field."""

from __future__ import annotations

import base64
import difflib
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from harness.check.matchers import EACH, PSEUDO_FIELDS, shape_problem, unknown_version_keys, version_label_re
from harness.kinds import registry
from harness.kinds.base import NodeModel
from harness.load.values import Expected, Sendable, Strict, Value, XclientAttributes, text_of, texts_of
from harness.load.yaml_source import SourceMap, YamlSourceError, load_with_lines
from harness.protocol.table import NAMES, PROTOCOLS

__all__ = ["CLIENT", "ClientExpect", "ClientSession", "KnownIssue", "NodeExpect", "Scenario", "ScenarioError",
           "load_scenario", "text_of", "texts_of"]

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
MAX_NODES = 200
"""Nodes get addresses .10 and up on the scenario's /24 (the client is .1): 200 fit, with room to spare."""
CLIENT = "client"
"""The name under which a scenario refers to the harness's own client (the address it connects from)."""


class ScenarioError(ValueError):
    """A scenario file is malformed. `str()` is the whole message, starting with file:line."""


_Strict = Strict
Protocol = Literal[NAMES]  # type: ignore[valid-type]


class Login(_Strict):
    user: Sendable = "alice"
    password: Sendable = "secret"
    sasl: bool = False
    """Log in as mail clients mostly do: SASL PLAIN with the credentials in the command (IMAP `AUTHENTICATE
    PLAIN <initial response>`, SASL-IR; POP3 `AUTH PLAIN <initial response>`) instead of LOGIN / USER+PASS.
    SMTP-family sessions always use `AUTH PLAIN`."""

    def plain_response(self) -> str:
        """SASL PLAIN's initial response: base64 of NUL user NUL password."""
        return base64.b64encode(f"\0{self.user}\0{self.password}".encode()).decode()


class Mail(_Strict):
    """A message to send (submission, smtp, lmtp): envelope, and for LMTP the XRCPTFORWARD fields."""

    sender: Sendable = Field("alice@example.test", alias="from")
    to: tuple[Sendable, ...] = ("bob@example.net",)
    forward: dict[str, Value] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ClientExpect(_Strict):
    """What the client itself must see, per step: the status (`OK`/`NO`/`BAD`, `+OK`/`-ERR`, or the SMTP code)
    and, in `<step>_reply`, the whole reply without its tag."""

    greeting: Expected | None = None
    greeting_reply: Expected | None = None
    id: Expected | None = None
    id_reply: Expected | None = None
    xclient: Expected | None = None
    xclient_reply: Expected | None = None
    xclient_again: Expected | None = None
    xclient_again_reply: Expected | None = None
    ehlo_xclient: Expected | None = None
    ehlo_keywords: Expected | None = None
    login: Expected | None = None
    login_reply: Expected | None = None
    login_seconds: Expected | None = None
    session_seconds: Expected | None = None
    mail: Expected | None = None
    mail_reply: Expected | None = None
    rcpt: Expected | None = None
    rcpt_reply: Expected | None = None
    data: Expected | None = None
    data_reply: Expected | None = None


class ClientSession(_Strict):
    """One client connection: greeting, then per protocol: ID or XCLIENT, login, a mail, logout."""

    protocol: Protocol = "imap"
    to: str
    ipv6: bool = False
    """Connect to the node's IPv6 address (the scenario needs `ipv6: true`)."""
    helo: Sendable = "client.example"
    id: dict[str, Value] | None = None
    xclient: XclientAttributes | None = None
    """XCLIENT's attributes; `{}` sends a bare `XCLIENT` (no attributes)."""
    xclient_again: XclientAttributes | None = None
    """A second XCLIENT, right after the first one's reply (and the EHLO/LHLO a 2xx calls for); its reply is the
    `xclient_again` step."""
    xclient_after: Literal["ehlo", "mail"] = "ehlo"
    """When the SMTP-family client sends XCLIENT: after EHLO/LHLO (as proxies do), or after the reply to MAIL FROM,
    inside the mail transaction (then RCPT follows unless MAIL was refused)."""
    login: Login | None = None
    mail: Mail | None = None
    expect: ClientExpect = Field(default_factory=ClientExpect)

    @property
    def row(self):  # noqa: ANN201 - ProtocolRow
        return PROTOCOLS[self.protocol]

    @model_validator(mode="before")
    @classmethod
    def _default_login(cls, data: Any) -> Any:
        """IMAP and POP3 sessions log in unless told `login: null`; SMTP ones only when given a login."""
        protocol = data.get("protocol", "imap") if isinstance(data, dict) else None
        if isinstance(data, dict) and "login" not in data and protocol in PROTOCOLS and PROTOCOLS[protocol].logs_in:
            return {**data, "login": {}}
        return data

    @model_validator(mode="after")
    def _protocol_fields(self) -> ClientSession:
        row = self.row
        if self.id is not None and row.forwards_with != "id":
            raise ValueError(f"`id:` is IMAP's; {self.protocol} forwards with `xclient:`")
        if self.xclient is not None and row.forwards_with != "xclient":
            raise ValueError(f"{self.protocol.upper()} forwards with `id:`, not `xclient:`")
        if self.xclient_again is not None and self.xclient is None:
            raise ValueError("`xclient_again:` is a second XCLIENT: give the first in `xclient:`")
        if self.xclient_after != "ehlo" and (self.xclient is None or self.mail is None or row.hello is None):
            raise ValueError("`xclient_after: mail` sends `xclient:` inside the transaction of `mail:` (SMTP, "
                             "submission, LMTP): give both")
        if self.mail is not None and not row.carries_mail:
            carriers = [name for name, other in PROTOCOLS.items() if other.carries_mail]
            raise ValueError(f"`mail:` needs {', '.join(carriers[:-1])} or {carriers[-1]}, not {self.protocol}")
        if self.mail is not None and self.mail.forward and not row.rcpt_forward:
            raise ValueError("`mail.forward` (XRCPTFORWARD) is LMTP's")
        if self.login is not None and not row.has_login:
            raise ValueError(f"{self.protocol.upper()} has no login")
        return self


Observed = dict[str, Expected | bool] | list[dict[str, Expected | bool]]
"""Fields one observed event must match; a list means several events, each matching one mapping. A boolean is
kept as one (not read as 1), so `each: true` is a flag and `rip: true` is refused as no value to match."""


class NodeExpect(_Strict):
    """What one node must have received or logged: one field per expectation key some node kind can show
    (the registry's categories; `ttl` is a single value, the others fields of events)."""

    def entries(self, category: str) -> list[tuple[tuple[str | int, ...], dict[str, Expected]]]:
        """(YAML path prefix, fields) of each mapping given under `category`."""
        value = getattr(self, category, None)
        if value is None:
            return []
        if isinstance(value, list):
            return [((category, index), fields) for index, fields in enumerate(value)]
        return [((category,), value)]

    def given(self) -> list[str]:
        """The categories this expectation sets, in the order of the model."""
        return [category for category, value in self if value is not None]


SCALAR_CATEGORIES = frozenset({"ttl"})
"""Categories that expect one value, not the fields of events."""
_expect_models: dict[frozenset[str], type[NodeExpect]] = {}


def node_expect_model() -> type[NodeExpect]:
    """The NodeExpect model with a field per category of the registered kinds (made once per set of kinds)."""
    categories = registry.categories()
    if categories not in _expect_models:
        fields: dict[str, Any] = {
            category: ((Expected if category in SCALAR_CATEGORIES else Observed) | None, None)
            for category in sorted(categories)
        }
        _expect_models[categories] = create_model("NodeExpect", __base__=NodeExpect, **fields)
    return _expect_models[categories]


class KnownIssue(_Strict):
    """A server crash the scenario expects on some versions: the item is an xfail there, with `reason`, and fails
    if the crash stops happening (strict), so an upgrade that fixes it is noticed."""

    servers: tuple[str, ...]
    match: str
    reason: str
    node: str | None = None

    @field_validator("servers", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("servers")
    @classmethod
    def _labels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        families = registry.families()
        for label in value:
            if not version_label_re().fullmatch(label):
                example = " or ".join(f"{family}-{registry.of_family(family).releases[0].major}"
                                      for family in families if registry.of_family(family).releases)
                raise ValueError(f"`{label}` is not a server label such as {example}")
        return value

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"bad regex: {exc}") from None
        return value


def _versions_are_strings(value: Any) -> Any:
    if isinstance(value, list) and any(not isinstance(v, str) for v in value):
        raise ValueError('write versions as quoted strings, e.g. ["2.3", "2.4"] (3.10 would read as 3.1)')
    return value


def _known_families(value: Any) -> Any:
    """`servers: {<family>: ["2.3", ...]}` names registered server families only."""
    for family in value if isinstance(value, dict) else ():
        if family not in registry.families():
            raise ValueError(f"unknown server family `{family}` (known: {', '.join(registry.families())})")
    return value


Versions = Annotated[tuple[str, ...] | None, BeforeValidator(_versions_are_strings)]


class Scenario(_Strict):
    """One scenario file."""

    name: str
    file: Path
    description: str = ""
    servers: dict[str, Versions] = Field(default_factory=dict)
    nodes: dict[str, NodeModel]
    clients: tuple[ClientSession, ...]
    expect: dict[str, NodeExpect] = Field(default_factory=dict)
    known_issues: tuple[KnownIssue, ...] = ()
    ipv6: bool = False
    """Give the network and every node an IPv6 address too, so clients can connect over IPv6."""
    rollout: bool = False
    """Also run the rollout states: each tier of a server family on the new release of a pair of adjacent
    releases and the others on the old one, and the other way round (see `tiers`)."""
    tiers: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """Which nodes are upgraded together, front tier first. Without it, the nodes of a family are grouped by
    their role within their kind (Dovecot: proxy, backend), in the order the chains reach them."""
    source: SourceMap = Field(exclude=True, repr=False)

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    _servers = field_validator("servers", mode="before")(_known_families)

    def line_of(self, *path: str | int) -> int:
        return self.source.line_of(path)

    def families(self) -> list[str]:
        """The server families this scenario runs, in the registry's order."""
        used = {registry.get(node.kind).family for node in self.nodes.values()}
        return [family for family in registry.families() if family in used]

    def tier_of(self, name: str) -> str | None:
        """The tier a server node belongs to (None for the harness's own hops)."""
        for tier, members in self.tiers.items():
            if name in members:
                return tier
        spec = self.nodes[name]
        kind = registry.get(spec.kind)
        return kind.variant(spec) if kind.family else None

    def tier_map(self) -> dict[str, list[str]]:
        """family -> the tiers of its nodes, front first: declared tiers as written, others in the order the
        chains from the clients reach them."""
        reached = dict.fromkeys([name for session in self.clients for name in self._chain_from(session.to)]
                                + list(self.nodes))
        found: dict[str, list[str]] = {}
        for name in reached:
            family = registry.get(self.nodes[name].kind).family
            tier = self.tier_of(name)
            if family and tier and tier not in found.setdefault(family, []):
                found[family].append(tier)
        declared = list(self.tiers)
        rank = {tier: index for index, tier in enumerate(declared)}
        return {family: sorted(tiers, key=lambda tier: rank.get(tier, len(declared)))
                for family, tiers in found.items()}

    def _chain_from(self, start: str) -> list[str]:
        chain: list[str] = []
        current: str | None = start
        while current is not None and current not in chain and current in self.nodes:
            chain.append(current)
            current = self.nodes[current].to
        return chain

    def pins(self) -> dict[str, tuple[str, ...] | None]:
        """The versions the scenario pins, per family it uses (None: every version of the matrix)."""
        return {family: self.servers.get(family) for family in self.families()}


def load_scenario(file: Path, root: Path | None = None) -> Scenario:
    """Load and validate one scenario file; raise ScenarioError naming file, line and field."""
    try:
        data, source = load_with_lines(file)
    except YamlSourceError as exc:
        raise ScenarioError(str(exc)) from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{file}:1: a scenario is a mapping with `nodes:`, `clients:` and `expect:`")
    name = _scenario_name(file, root)
    errors: list[tuple[tuple[str | int, ...], str]] = []
    folder = file.resolve().parent
    data = {**data, "nodes": _validated_map(data, "nodes", lambda entry: _node_of(entry, folder), errors),
            "expect": _validated_map(data, "expect", _expect_of, errors)}
    try:
        scenario = Scenario.model_validate({**data, "name": name, "file": file, "source": source})
    except ValidationError as exc:
        errors += _errors_of(exc, ())
    if errors:
        raise ScenarioError(_describe(errors, source))
    problems = list(_reference_problems(scenario))
    if problems:
        raise ScenarioError("\n".join(f"{file}:{line}: {field}: {msg}" for line, field, msg in problems))
    return scenario


def _validated_map(data: dict[str, Any], key: str, validate: Any, errors: list[Any]) -> Any:
    """Validate each entry of the mapping `data[key]` on its own, so an error's path is the file's path (no
    union tags) and only the model meant is reported. Entries that fail are left out (their errors kept)."""
    value = data.get(key, {} if key == "expect" else None)
    if not isinstance(value, dict):
        return value
    validated = {}
    for name, entry in value.items():
        try:
            validated[name] = validate(entry)
        except ValidationError as exc:
            errors += _errors_of(exc, (key, name))
        except _EntryError as exc:
            errors.append(((key, name, *exc.path), str(exc)))
    return validated


class _EntryError(ValueError):
    def __init__(self, path: tuple[str | int, ...], message: str):
        super().__init__(message)
        self.path = path


def _node_of(entry: Any, folder: Path) -> NodeModel:
    if not isinstance(entry, dict):
        raise _EntryError((), "a node is a mapping with `kind:`")
    kind = entry.get("kind")
    if kind not in registry.names():
        raise _EntryError(("kind",) if "kind" in entry else (),
                          f"`kind:` must be one of {', '.join(registry.names())}" + (f", not `{kind}`" if kind else ""))
    # The folder lets a node read files beside the scenario (an operator's config_file).
    return registry.get(kind).model.model_validate(entry, context={"folder": folder})


def _expect_of(entry: Any) -> NodeExpect:
    return node_expect_model().model_validate(entry)


def _errors_of(exc: ValidationError, prefix: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    found = []
    for error in exc.errors():
        loc = (*prefix, *_source_path(error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            message = f"unknown field `{loc[-1]}`"
        found.append((loc, message))
    return found


def _scenario_name(file: Path, root: Path | None) -> str:
    root = root or scenarios_root(file)
    return file.resolve().relative_to(root.resolve()).with_suffix("").as_posix()


def scenarios_root(file: Path) -> Path:
    """The nearest enclosing folder named `scenarios` (names are relative to it), else the file's folder."""
    for parent in file.resolve().parents:
        if parent.name == "scenarios":
            return parent
    return file.resolve().parent


def _describe(errors: list[tuple[tuple[str | int, ...], str]], source: SourceMap) -> str:
    by_path: dict[tuple[str | int, ...], list[str]] = {}
    for loc, message in errors:
        by_path.setdefault(loc, [])
        if message not in by_path[loc]:
            by_path[loc].append(message)
    # A union reports every branch; the branch that got deeper into the value is the one meant.
    deepest = [loc for loc in by_path if not any(other[:len(loc)] == loc and other != loc for other in by_path)]
    return "\n".join(f"{source.file}:{source.line_of(loc)}: {_field_name(loc)}: {'; or '.join(by_path[loc])}"
                     for loc in deepest)


def _field_name(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "(top level)"


def _source_path(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Drop the parts pydantic adds for unions (`str`, `int`, `dict[str,...]`, ...) so the path matches the file."""
    return tuple(part for part in loc if not (isinstance(part, str) and (part in _UNION_MEMBER_TAGS or "[" in part)))


_UNION_MEMBER_TAGS = {"str", "int", "float", "bool"}
def _speaks(node: NodeModel, protocol: str) -> bool | None:
    """Whether a node answers `protocol`: a relay's own `protocol:`, a server kind's `serves`; None if the kind
    does not say (a front such as HAProxy takes whatever its sessions speak)."""
    if node.protocols():
        return protocol in node.protocols()
    serves = registry.get(node.kind).serves
    return protocol in serves if serves else None


def _protocol_problems(scenario: Scenario) -> Any:
    for index, session in enumerate(scenario.clients):
        target = scenario.nodes.get(session.to)
        if target is not None and _speaks(target, session.protocol) is False:
            yield scenario.line_of("clients", index, "to"), f"clients[{index}].to", (
                f"`{session.to}` ({target.kind}) does not speak {session.protocol}")
    for name, node in scenario.nodes.items():
        upstream = scenario.nodes.get(node.to or "")
        for protocol in node.protocols():
            if upstream is not None and _speaks(upstream, protocol) is False:
                yield scenario.line_of("nodes", name, "to"), f"nodes.{name}.to", (
                    f"`{node.to}` ({upstream.kind}) does not speak {protocol}, which `{name}` forwards")


def _reference_problems(scenario: Scenario) -> Any:
    names = set(scenario.nodes)
    if len(names) > MAX_NODES:
        yield scenario.line_of("nodes"), "nodes", (
            f"{len(names)} nodes: a scenario has at most {MAX_NODES} (their addresses share one /24)")
    yield from _protocol_problems(scenario)
    for name, node in scenario.nodes.items():
        if not NAME_RE.match(name) or name == CLIENT:
            yield scenario.line_of("nodes", name), f"nodes.{name}", (
                "a node name is lower-case letters, digits, - and _ (at most 31), and not `client`"
            )
        if node.to is not None and node.to not in names:
            yield scenario.line_of("nodes", name, "to"), f"nodes.{name}.to", f"no node named `{node.to}`"
        if node.to == name:
            yield scenario.line_of("nodes", name, "to"), f"nodes.{name}.to", "a node cannot forward to itself"
        for field, other in node.node_references().items():
            if other not in names:
                yield scenario.line_of("nodes", name, field), f"nodes.{name}.{field}", f"no node named `{other}`"
        for list_field, index, trusted in ((f, i, e) for f, entries in node.trust_lists().items()
                                           for i, e in enumerate(entries)):
            base, _, prefix = trusted.partition("/")
            v6 = base.endswith(".v6")
            by_name = base.removesuffix(".v6") in names | {CLIENT} and (
                not prefix or (prefix.isdigit() and 0 < int(prefix) <= (128 if v6 else 32)))
            if v6 and not scenario.ipv6:
                yield scenario.line_of("nodes", name, list_field, index), f"nodes.{name}.{list_field}[{index}]", (
                    f"`{trusted}` is an IPv6 address: the scenario needs `ipv6: true`")
            if not by_name and not _is_network(trusted):
                yield scenario.line_of("nodes", name, list_field, index), f"nodes.{name}.{list_field}[{index}]", (
                    f"`{trusted}` is neither a node, `client`, `<node>/<prefix>`, `<node>.v6`, "
                    "nor an address or network"
                )
    if not scenario.families():
        yield scenario.line_of("nodes"), "nodes", (
            f"a scenario needs at least one real server ({' or '.join(registry.families())})")
    if not scenario.clients:
        yield scenario.line_of("clients"), "clients", "at least one client session is needed"
    for index, session in enumerate(scenario.clients):
        if session.ipv6 and not scenario.ipv6:
            yield scenario.line_of("clients", index, "ipv6"), f"clients[{index}].ipv6", (
                "connecting over IPv6 needs `ipv6: true` at the top of the scenario")
        if session.to not in names:
            yield scenario.line_of("clients", index, "to"), f"clients[{index}].to", f"no node named `{session.to}`"
    for name, node_expect in scenario.expect.items():
        if name not in names:
            yield scenario.line_of("expect", name), f"expect.{name}", f"no node named `{name}`"
            continue
        for category in node_expect.given():
            problem = _observable_problem(scenario, scenario.nodes[name], category)
            if problem:
                yield scenario.line_of("expect", name, category), f"expect.{name}.{category}", problem
            else:
                yield from _field_problems(scenario, name, node_expect, category)
        for path, value in _expected_values(node_expect):
            problem = shape_problem(value, names)
            if problem:
                field = ".".join(("expect", name, *map(str, path)))
                yield scenario.line_of("expect", name, *path), field, problem
    yield from _tier_problems(scenario, names)
    for index, issue in enumerate(scenario.known_issues):
        if issue.node is not None and issue.node not in names:
            yield scenario.line_of("known_issues", index, "node"), f"known_issues[{index}].node", (
                f"no node named `{issue.node}`")
    for index, session in enumerate(scenario.clients):
        for path, value in _expected_values(session.expect):
            problem = shape_problem(value, names)
            if problem:
                field = f"clients[{index}].expect.{'.'.join(path)}"
                yield scenario.line_of("clients", index, "expect", *path), field, problem


def _field_problems(scenario: Scenario, name: str, node_expect: NodeExpect, category: str) -> Any:
    """A field no event of this category can have can never pass: say which and what was probably meant."""
    kind = registry.get(scenario.nodes[name].kind)
    known = kind.fields.get(category)
    prefixes = kind.field_prefixes.get(category, ())
    for prefix, fields in node_expect.entries(category):
        for field in fields if isinstance(fields, dict) else ():
            where = scenario.line_of("expect", name, *prefix, field), ".".join(
                str(part) for part in ("expect", name, *prefix, field))
            if field == EACH and fields[field] is not True:
                yield *where, "write `each: true` (every such event has the fields beside it) or leave it out"
            if known is None or field in known or field in PSEUDO_FIELDS or field.startswith(prefixes):
                continue
            close = difflib.get_close_matches(field, sorted(known), n=1)
            hint = f"; did you mean `{close[0]}`?" if close else f"; it has {', '.join(sorted(known))}"
            yield *where, f"a {kind.name} node's `{category}` has no field `{field}`{hint}"


def _observable_problem(scenario: Scenario, node: NodeModel, category: str) -> str | None:
    """Why this node cannot show this kind of observation, or None."""
    kind = registry.get(node.kind)
    return kind.observable_problem(node, category, scenario.servers.get(kind.family) if kind.family else None)


def _tier_problems(scenario: Scenario, names: set[str]) -> Any:
    placed: dict[str, str] = {}
    for tier, members in scenario.tiers.items():
        families = set()
        for index, member in enumerate(members):
            where = scenario.line_of("tiers", tier, index), f"tiers.{tier}[{index}]"
            if member not in names:
                yield *where, f"no node named `{member}`"
                continue
            family = registry.get(scenario.nodes[member].kind).family
            if family is None:
                yield *where, f"`{member}` is a {scenario.nodes[member].kind} node: only servers have versions"
            elif member in placed:
                yield *where, f"`{member}` is in tier `{placed[member]}` already"
            families.add(family)
            placed[member] = tier
        if len(families - {None}) > 1:
            yield scenario.line_of("tiers", tier), f"tiers.{tier}", "a tier holds servers of one family"
    if scenario.rollout and not any(len(tiers) > 1 for tiers in scenario.tier_map().values()):
        yield scenario.line_of("rollout"), "rollout", (
            "a rollout needs two tiers of one server family (e.g. proxies and backends), or `tiers:`")


def _expected_values(model: BaseModel) -> Any:
    """(path, expected value) pairs of a NodeExpect (category [-> index] -> field -> value) or a ClientExpect."""
    for category, value in model:
        if value is None:
            continue
        if isinstance(model, NodeExpect) and category not in SCALAR_CATEGORIES:
            for prefix, fields in model.entries(category):
                for field, expected in fields.items():
                    if field != EACH:  # a flag, not an expected value (checked in _field_problems)
                        yield (*prefix, field), expected
        else:
            yield (category,), value


def unknown_version_key_problems(scenario: Scenario, known: set[str]) -> list[str]:
    """file:line: field: message for every version key that names no version of the matrix (a typo such as
    dovecot-9.9 would otherwise only fail at run time, or with `default:` never be seen)."""
    problems = []
    places = [(("expect", name), expect) for name, expect in scenario.expect.items()]
    places += [(("clients", index, "expect"), session.expect) for index, session in enumerate(scenario.clients)]
    for prefix, model in places:
        for path, value in _expected_values(model):
            for key in unknown_version_keys(value, known):
                where = ".".join(str(part) for part in (*prefix, *path))
                problems.append(f"{scenario.file}:{scenario.line_of(*prefix, *path)}: {where}: `{key}` is no "
                                f"version of the matrix (it has {', '.join(sorted(known))})")
    return problems


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True
