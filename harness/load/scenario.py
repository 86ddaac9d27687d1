"""Scenario files: YAML -> a typed, validated Scenario. Every error names the file, the line and the field."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.check.matchers import shape_problem
from harness.load.yaml_source import SourceMap, YamlSourceError, load_with_lines

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
CLIENT = "client"
"""The name under which a scenario refers to the harness's own client (the address it connects from)."""

Scalar = str | int


class Repeat(BaseModel):
    """A long value written short: `{repeat: "a", times: 1100}` is 1100 a's (limits of ID and XCLIENT)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    repeat: str = Field(min_length=1)
    times: int = Field(ge=0, le=100_000)


Value = Annotated[Scalar | Repeat, Field(union_mode="left_to_right")]
"""A value the scenario sends: a literal, or a Repeat."""
XclientAttributes = dict[str, Annotated[Value | dict[str, Value], Field(union_mode="left_to_right")]]
"""XCLIENT attributes by name; FORWARD may be a mapping of forwarded fields (encoded per protocol)."""
Expected = Scalar | dict[str, Any]
"""A value to match: a literal, `@node` (that node's address), or a mapping such as
{regex: ...}, {one_of: [...]}, {absent: true} or {dovecot-2.3: ..., dovecot-2.4: ..., default: ...}."""


def text_of(value: Scalar | Repeat) -> str:
    """What goes on the wire for a value of the scenario."""
    return value.repeat * value.times if isinstance(value, Repeat) else str(value)


def texts_of(fields: dict[str, Any]) -> list[tuple[str, str]]:
    return [(key, text_of(value)) for key, value in fields.items()]


class ScenarioError(ValueError):
    """A scenario file is malformed. `str()` is the whole message, starting with file:line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Protocol = Literal["imap", "pop3", "submission", "lmtp", "smtp"]
"""`smtp` is plain SMTP on port 25 (Postfix's smtpd); `submission` is port 587."""
XCLIENT_PROTOCOLS = ("pop3", "submission", "lmtp", "smtp")


class DovecotNode(_Strict):
    """A real Dovecot server (IMAP, POP3, submission and LMTP at once): a proxy forwarding every login and
    every LMTP recipient to `to`, or a backend that logs users in and delivers mail."""

    kind: Literal["dovecot"]
    role: Literal["proxy", "backend"]
    to: str | None = None
    trust: tuple[str, ...] = ()
    password: str = "secret"
    proxy_noauth: bool = False
    submission_relay_host: str | None = None
    submission_relay_trusted: bool = False

    @model_validator(mode="after")
    def _role_fields(self) -> DovecotNode:
        if self.role == "proxy" and self.to is None:
            raise ValueError("a proxy needs `to:` (the node it forwards logins to)")
        if self.role == "backend" and self.to is not None:
            raise ValueError("a backend does not forward: remove `to:` or make it role: proxy")
        if self.role == "proxy" and self.submission_relay_host is not None:
            raise ValueError("submission_relay_host is a backend setting (the MTA a logged-in user's mail goes to)")
        if self.role == "backend" and self.proxy_noauth:
            raise ValueError("proxy_noauth is a proxy setting")
        return self


class PostfixNode(_Strict):
    """A real Postfix smtpd (ports 25 and 587) that accepts mail for example.test/example.net and discards it."""

    kind: Literal["postfix"]
    trust: tuple[str, ...] = ()
    """smtpd_authorized_xclient_hosts"""
    inet_protocols: Literal["all", "ipv4"] = "all"

    @property
    def to(self) -> None:
        return None


class Mutation(_Strict):
    """How a `mutate` relay corrupts the forwarding command on its link (for the harness's own negative tests)."""

    drop: tuple[str, ...] = ()
    drop_forward: tuple[str, ...] = ()
    ttl_delta: int = 0
    set: dict[str, Scalar] = Field(default_factory=dict)


class RelayNode(_Strict):
    """A Python relay hop: `inject` adds ID/XCLIENT in front of `to`; `pass` forwards unchanged and records what
    crosses its link; `mutate` is a faulty `pass`; `capture` is a sink recording all it receives."""

    kind: Literal["relay"]
    mode: Literal["inject", "capture", "pass", "mutate"]
    protocol: Protocol = "imap"
    to: str | None = None
    trust: tuple[str, ...] = ()
    id: dict[str, Value] = Field(default_factory=dict)
    xclient: XclientAttributes = Field(default_factory=dict)
    rcpt_forward: dict[str, Value] = Field(default_factory=dict)
    advertise: tuple[str, ...] | None = None
    accept_login: bool = False
    mutate: Mutation | None = None

    @model_validator(mode="after")
    def _mode_fields(self) -> RelayNode:
        inject_only = {"id": self.id, "xclient": self.xclient, "rcpt_forward": self.rcpt_forward}
        if self.mode != "capture" and self.to is None:
            raise ValueError(f"a {self.mode} relay needs `to:` (the node it forwards to)")
        if self.mode == "capture" and self.to is not None:
            raise ValueError("a capture relay is a terminal sink: it takes no `to:`")
        if self.mode != "inject" and any(inject_only.values()):
            given = ", ".join(f"`{k}:`" for k, v in inject_only.items() if v)
            raise ValueError(f"only an inject relay sends its own parameters: a {self.mode} relay takes no {given}")
        if self.mode != "capture" and (self.advertise is not None or self.accept_login):
            raise ValueError("`advertise:` and `accept_login:` are for capture relays")
        if (self.mode == "mutate") != (self.mutate is not None):
            raise ValueError("a mutate relay needs `mutate:` (and only a mutate relay takes it)")
        if self.id and self.protocol != "imap":
            raise ValueError(f"`id:` is IMAP's; {self.protocol} forwards with `xclient:`")
        if self.xclient and self.protocol == "imap":
            raise ValueError("IMAP forwards with `id:`, not `xclient:`")
        if self.rcpt_forward and self.protocol != "lmtp":
            raise ValueError("`rcpt_forward:` (XRCPTFORWARD) is LMTP's")
        if self.advertise is not None and self.protocol == "imap":
            raise ValueError("`advertise:` lists XCLIENT attributes; IMAP has none")
        return self


Node = Annotated[DovecotNode | PostfixNode | RelayNode, Field(discriminator="kind")]


class Login(_Strict):
    user: str = "alice"
    password: str = "secret"


class Mail(_Strict):
    """A message to send (submission, smtp, lmtp): envelope, and for LMTP the XRCPTFORWARD fields."""

    sender: str = Field("alice@example.test", alias="from")
    to: tuple[str, ...] = ("bob@example.net",)
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
    ehlo_xclient: Expected | None = None
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
    helo: str = "client.example"
    id: dict[str, Value] | None = None
    xclient: XclientAttributes | None = None
    login: Login | None = None
    mail: Mail | None = None
    expect: ClientExpect = Field(default_factory=ClientExpect)

    @model_validator(mode="before")
    @classmethod
    def _default_login(cls, data: Any) -> Any:
        """IMAP and POP3 sessions log in unless told `login: null`; SMTP ones only when given a login."""
        if isinstance(data, dict) and "login" not in data and data.get("protocol", "imap") in ("imap", "pop3"):
            return {**data, "login": {}}
        return data

    @model_validator(mode="after")
    def _protocol_fields(self) -> ClientSession:
        if self.id is not None and self.protocol != "imap":
            raise ValueError(f"`id:` is IMAP's; {self.protocol} forwards with `xclient:`")
        if self.xclient is not None and self.protocol == "imap":
            raise ValueError("IMAP forwards with `id:`, not `xclient:`")
        if self.mail is not None and self.protocol in ("imap", "pop3"):
            raise ValueError(f"`mail:` needs submission, smtp or lmtp, not {self.protocol}")
        if self.mail is not None and self.mail.forward and self.protocol != "lmtp":
            raise ValueError("`mail.forward` (XRCPTFORWARD) is LMTP's")
        if self.login is not None and self.protocol == "lmtp":
            raise ValueError("LMTP has no login")
        return self


Observed = dict[str, Expected] | list[dict[str, Expected]]
"""Fields one observed event must match; a list means several events, each matching one mapping."""


class NodeExpect(_Strict):
    """What one node must have received or logged."""

    login: Observed | None = None
    proxied: Observed | None = None
    auth: Observed | None = None
    forward: Observed | None = None
    id: Observed | None = None
    xclient: Observed | None = None
    ttl: Expected | None = None
    delivery: Observed | None = None
    client: Observed | None = None
    recipient: Observed | None = None
    disconnect: Observed | None = None
    connect: Observed | None = None
    drop: Observed | None = None

    def entries(self, category: str) -> list[tuple[tuple[str | int, ...], dict[str, Expected]]]:
        """(YAML path prefix, fields) of each mapping given under `category`."""
        value = getattr(self, category)
        if value is None:
            return []
        if isinstance(value, list):
            return [((category, index), fields) for index, fields in enumerate(value)]
        return [((category,), value)]


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
        for label in value:
            if not re.fullmatch(r"(dovecot|postfix)-\d+(\.\d+)*", label):
                raise ValueError(f"`{label}` is not a server label such as dovecot-2.3 or postfix-3.10")
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


class Servers(_Strict):
    dovecot: tuple[str, ...] | None = None
    postfix: tuple[str, ...] | None = None

    _strings = field_validator("dovecot", "postfix", mode="before")(_versions_are_strings)


class Scenario(_Strict):
    """One scenario file."""

    name: str
    file: Path
    description: str = ""
    servers: Servers = Field(default_factory=Servers)
    nodes: dict[str, Node]
    clients: tuple[ClientSession, ...]
    expect: dict[str, NodeExpect] = Field(default_factory=dict)
    known_issues: tuple[KnownIssue, ...] = ()
    ipv6: bool = False
    """Give the network and every node an IPv6 address too, so clients can connect over IPv6."""
    source: SourceMap = Field(exclude=True, repr=False)

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    def line_of(self, *path: str | int) -> int:
        return self.source.line_of(path)

    def families(self) -> list[str]:
        """The server families this scenario runs: dovecot, postfix or both."""
        return [family for family in ("dovecot", "postfix") if any(n.kind == family for n in self.nodes.values())]


def load_scenario(file: Path, root: Path | None = None) -> Scenario:
    """Load and validate one scenario file; raise ScenarioError naming file, line and field."""
    try:
        data, source = load_with_lines(file)
    except YamlSourceError as exc:
        raise ScenarioError(str(exc)) from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{file}:1: a scenario is a mapping with `nodes:`, `clients:` and `expect:`")
    name = _scenario_name(file, root)
    try:
        scenario = Scenario.model_validate({**data, "name": name, "file": file, "source": source})
    except ValidationError as exc:
        raise ScenarioError(_describe(exc, source)) from None
    problems = list(_reference_problems(scenario))
    if problems:
        raise ScenarioError("\n".join(f"{file}:{line}: {field}: {msg}" for line, field, msg in problems))
    return scenario


def _scenario_name(file: Path, root: Path | None) -> str:
    root = root or scenarios_root(file)
    return file.resolve().relative_to(root.resolve()).with_suffix("").as_posix()


def scenarios_root(file: Path) -> Path:
    """The nearest enclosing folder named `scenarios` (names are relative to it), else the file's folder."""
    for parent in file.resolve().parents:
        if parent.name == "scenarios":
            return parent
    return file.resolve().parent


def _describe(exc: ValidationError, source: SourceMap) -> str:
    by_path: dict[tuple[str | int, ...], list[str]] = {}
    for error in exc.errors():
        loc = _source_path(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown field `{loc[-1]}`"
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
    """Drop the parts pydantic adds for unions (the node kind, `str`, `int`, ...) so the path matches the file."""
    if len(loc) > 2 and loc[0] == "nodes" and loc[2] in ("dovecot", "relay"):
        loc = loc[:2] + loc[3:]
    return tuple(part for part in loc if not (isinstance(part, str) and (part in _UNION_MEMBER_TAGS or "[" in part)))


_UNION_MEMBER_TAGS = {"str", "int", "float", "bool"}


def _reference_problems(scenario: Scenario) -> Any:
    names = set(scenario.nodes)
    for name, node in scenario.nodes.items():
        if not NAME_RE.match(name) or name == CLIENT:
            yield scenario.line_of("nodes", name), f"nodes.{name}", (
                "a node name is lower-case letters, digits, - and _ (at most 31), and not `client`"
            )
        if node.to is not None and node.to not in names:
            yield scenario.line_of("nodes", name, "to"), f"nodes.{name}.to", f"no node named `{node.to}`"
        if node.to == name:
            yield scenario.line_of("nodes", name, "to"), f"nodes.{name}.to", "a node cannot forward to itself"
        relay_host = getattr(node, "submission_relay_host", None)
        if relay_host is not None and relay_host not in names:
            yield (scenario.line_of("nodes", name, "submission_relay_host"), f"nodes.{name}.submission_relay_host",
                   f"no node named `{relay_host}`")
        for index, trusted in enumerate(node.trust):
            base, _, prefix = trusted.partition("/")
            v6 = base.endswith(".v6")
            by_name = base.removesuffix(".v6") in names | {CLIENT} and (
                not prefix or (prefix.isdigit() and 0 < int(prefix) <= (128 if v6 else 32)))
            if v6 and not scenario.ipv6:
                yield scenario.line_of("nodes", name, "trust", index), f"nodes.{name}.trust[{index}]", (
                    f"`{trusted}` is an IPv6 address: the scenario needs `ipv6: true`")
            if not by_name and not _is_network(trusted):
                yield scenario.line_of("nodes", name, "trust", index), f"nodes.{name}.trust[{index}]", (
                    f"`{trusted}` is neither a node, `client`, `<node>/<prefix>`, `<node>.v6`, "
                    "nor an address or network"
                )
    if not any(node.kind in ("dovecot", "postfix") for node in scenario.nodes.values()):
        yield scenario.line_of("nodes"), "nodes", "a scenario needs at least one real server (dovecot or postfix)"
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
        for category, value in node_expect:
            problem = _observable_problem(scenario, scenario.nodes[name], category) if value is not None else None
            if problem:
                yield scenario.line_of("expect", name, category), f"expect.{name}.{category}", problem
        for path, value in _expected_values(node_expect):
            problem = shape_problem(value, names)
            if problem:
                field = ".".join(("expect", name, *map(str, path)))
                yield scenario.line_of("expect", name, *path), field, problem
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


OBSERVABLE = {
    ("dovecot", "proxy"): {"proxied", "auth", "forward", "id", "ttl", "xclient", "drop"},
    ("dovecot", "backend"): {"login", "auth", "forward", "id", "ttl", "xclient", "delivery"},
    ("postfix", "smtpd"): {"client", "recipient", "disconnect", "connect"},
    ("relay", "capture"): {"id", "xclient", "ttl", "forward"},
    ("relay", "pass"): {"id", "xclient", "ttl", "forward"},
    ("relay", "mutate"): {"id", "xclient", "ttl", "forward"},
    ("relay", "inject"): set(),
}
ONLY_DOVECOT_23 = {"id", "ttl"}


def _observable_problem(scenario: Scenario, node: DovecotNode | PostfixNode | RelayNode, category: str) -> str | None:
    """Why this node cannot show this kind of observation, or None."""
    variant = node.role if isinstance(node, DovecotNode) else node.mode if isinstance(node, RelayNode) else "smtpd"
    allowed = OBSERVABLE[(node.kind, variant)]
    if category not in allowed:
        return (f"a {node.kind} {variant} cannot show `{category}`; it shows: "
                f"{', '.join(sorted(allowed)) or 'nothing (expect things of the next hop instead)'}")
    pinned = scenario.servers.dovecot
    if isinstance(node, DovecotNode) and category in ONLY_DOVECOT_23 and (pinned is None or set(pinned) - {"2.3"}):
        return ("only Dovecot 2.3 logs the ID it received (imap_id_log; 2.4 logs no x-* keys): "
                f"pin `servers: {{dovecot: [\"2.3\"]}}`, or expect `{category}` at a capture relay behind this node")
    return None


def _expected_values(model: BaseModel) -> Any:
    """(path, expected value) pairs of a NodeExpect (category [-> index] -> field -> value) or a ClientExpect."""
    for category, value in model:
        if value is None:
            continue
        if isinstance(model, NodeExpect) and category != "ttl":
            for prefix, fields in model.entries(category):
                for field, expected in fields.items():
                    yield (*prefix, field), expected
        else:
            yield (category,), value


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True
