"""nginx nodes: nginx's mail proxy (`nginx` + `libnginx-mod-mail` from the item's Debian generation) with the
auth_http responder (auth_http.py) beside it in one container. nginx.conf is rendered from `nginx.conf` beside this
file, one `server {}` per protocol the scenario's sessions speak to the node; ready when nginx greets and the
responder has said `ready`; observed through the responder's JSON records (what nginx asked auth_http) and
nginx's error log on stderr."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from harness.kinds.base import ImageRecipe, NodeImage, NodeKind, NodeModel, dockerfile_recipe, node_container
from harness.kinds.nginx.model import NginxNode
from harness.observe.events import Event, NodeObservation
from harness.protocol.table import PROTOCOLS
from harness.provision.spec import ContainerSpec

if TYPE_CHECKING:
    from harness.plan.topology import NodePlan, Plan
    from harness.plan.versions import ServerRelease
    from harness.provision.container import NodeContainer

NAME = "nginx"
FOLDER = Path(__file__).resolve().parent
TEMPLATE = FOLDER / "nginx.conf"
RESPONDER = FOLDER / "auth_http.py"
DEFAULT_SUITE = "bookworm"
"""Where no server family gives the item a generation."""
NGINX_CONF = "/etc/mailhops/nginx.conf"
RESPONDER_PATH = "/opt/mailhops/auth_http.py"
AUTH_LISTEN = ("127.0.0.1", 9000)
OBSERVABLE = frozenset({"auth_http", "error_log"})
PROBLEMS = frozenset({"warn", "error", "crit", "alert", "emerg"})
GREETINGS = {"imap": "* OK", "pop3": "+OK", "smtp": "220 "}
"""What nginx itself greets with, by wire (`* OK IMAP4 ready`, `+OK POP3 ready`, `220 <name> ESMTP ready`)."""

_ERROR_LOG = re.compile(r"^(?P<time>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(?P<level>\w+)\] \d+#\d+: "
                        r"(?:\*(?P<connection>\d+) )?(?P<rest>.*)$")
_CONTEXT = re.compile(r', (?P<key>client|server|login|upstream): (?P<value>"[^"]*"|[^,]*)')


def proxied_protocols(node: NodePlan, plan: Plan) -> tuple[str, ...]:
    """The protocols that reach this node: its clients' sessions and the hops that forward to it, in order."""
    found = [session.protocol for session in plan.scenario.clients if session.to == node.name]
    found += [protocol for other in plan.nodes.values() if other.spec.to == node.name
              for protocol in other.spec.protocols()]
    return tuple(dict.fromkeys(found)) or ("smtp",)


def nginx_protocol(protocol: str) -> str:
    """nginx's `protocol` for one of the harness's: imap, pop3, smtp (submission is SMTP on 587)."""
    row = PROTOCOLS[protocol]
    if row.wire in ("imap", "pop3") or row.hello == "EHLO":
        return row.wire
    raise ValueError(f"nginx's mail proxy does not speak {protocol} (only IMAP, POP3 and SMTP)")


def render_server(node: NodePlan, protocol: str) -> str:
    """One `server {}`: nginx listens on the protocol's port and asks auth_http at `/auth/<protocol>`."""
    spec = node.spec
    assert isinstance(spec, NginxNode)
    port = PROTOCOLS[protocol].port
    wire = nginx_protocol(protocol)
    lines = [f"listen {port};"] + ([f"listen [::]:{port};"] if node.address6 else [])
    lines += [f"protocol {wire};", f"auth_http {AUTH_LISTEN[0]}:{AUTH_LISTEN[1]}/auth/{protocol};"]
    if wire == "smtp":
        lines.append(f"smtp_auth {' '.join(spec.smtp_auth)};")
        if spec.proxy_smtp_auth:
            lines.append("proxy_smtp_auth on;")
    body = "".join(f"        {line}\n" for line in lines)
    return f"    server {{  # {protocol}\n{body}    }}"


def render_nginx_conf(node: NodePlan, protocols: tuple[str, ...]) -> str:
    spec = node.spec
    assert isinstance(spec, NginxNode)
    return string.Template(TEMPLATE.read_text()).substitute(
        node=node.name, xclient="on" if spec.xclient else "off", auth_listen=":".join(map(str, AUTH_LISTEN)),
        servers="\n".join(render_server(node, protocol) for protocol in protocols))


def responder_config(node: NodePlan, protocols: tuple[str, ...]) -> dict[str, object]:
    """Every session goes to `to`, on the port of the protocol it came in on."""
    return {"listen": list(AUTH_LISTEN), "server": node.upstream,
            "ports": {protocol: PROTOCOLS[protocol].port for protocol in protocols}}


def records(log: str) -> list[tuple[dict[str, object], str]]:
    """The responder's JSON-line records with their lines; other lines are nginx's or tracebacks."""
    found = []
    for line in log.splitlines():
        if line.startswith("{"):
            try:
                found.append((json.loads(line), line))
            except json.JSONDecodeError:
                continue
    return found


def auth_http_event(record: Mapping[str, object], line: str) -> Event:
    """One auth request: nginx's headers by name as sent (`Client-IP`, `Auth-User`, `Auth-SMTP-Helo`, ...), values
    %-decoded (nginx escapes the client's own text: `MAIL%20FROM:<a@b>`), and the method and URI."""
    headers = record.get("headers")
    fields = {str(name): unquote(str(value)) for name, value in (headers if isinstance(headers, list) else [])}
    fields |= {"method": str(record.get("method", "")), "uri": str(record.get("uri", ""))}
    return Event("auth_http", fields, line)


def error_log_events(log: str) -> list[Event]:
    """nginx's error-log lines about a connection (`*3 ...`, level info and up) and its warnings and errors (not
    its start-up notices): `level`, `message` (without nginx's context),
    `action` (the `while ...` part), `connection`, and the context's `client`, `login`, `server` and `upstream`
    (addresses; their ports as `server_port`, `upstream_port`)."""
    events = []
    for line in log.splitlines():
        match = _ERROR_LOG.match(line)
        if not match or not (match["connection"] or match["level"] in PROBLEMS):
            continue
        rest = match["rest"]
        fields = {"level": match["level"]}
        if match["connection"]:
            fields["connection"] = match["connection"]
        context = _CONTEXT.search(rest)
        message = rest[:context.start()] if context else rest
        for found in _CONTEXT.finditer(rest[context.start():] if context else ""):
            key, value = found["key"], found["value"].strip('"')
            if key in ("server", "upstream") and ":" in value:
                value, _, fields[f"{key}_port"] = value.rpartition(":")
                value = value.strip("[]")
            fields[key] = value
        message, _, action = message.partition(" while ")
        fields["message"] = message
        if action:
            fields["action"] = action
        events.append(Event("error_log", fields, line))
    return events


class NginxKind(NodeKind):
    name = NAME
    model = NginxNode
    is_server = False
    categories = OBSERVABLE
    version_command = ("sh", "-c", "nginx -v 2>&1 | sed 's|.*/||'")
    package_command = ("dpkg-query", "-W", "-f", "${Version}", "nginx")

    def variant(self, spec: NodeModel) -> str:
        return "mail proxy"

    def describe(self, spec: NodeModel) -> str:
        assert isinstance(spec, NginxNode)
        return f"{NAME} xclient {'on' if spec.xclient else 'off'}"

    def observable(self, spec: NodeModel) -> frozenset[str]:
        return OBSERVABLE

    def recipe(self, release: ServerRelease | None) -> ImageRecipe:
        suite = release.suite if release is not None and release.suite else DEFAULT_SUITE
        return dockerfile_recipe(NAME, suite, FOLDER, {"auth_http.py": RESPONDER.read_bytes()})

    def container_spec(self, node: NodePlan, plan: Plan, image: NodeImage, labels: Mapping[str, str]) -> ContainerSpec:
        protocols = proxied_protocols(node, plan)
        config = json.dumps(responder_config(node, protocols))
        # The responder in the background, nginx in the foreground: both write to the container's log.
        command = f"python3 -u {RESPONDER_PATH} \"$MAILHOPS_AUTH_HTTP\" & exec nginx -c {NGINX_CONF}"
        return node_container(node, image, labels, ("sh", "-c", command), env={"MAILHOPS_AUTH_HTTP": config},
                              files={NGINX_CONF: render_nginx_conf(node, protocols).encode()}, as_root=True)

    def ready(self, node: NodePlan, container: NodeContainer) -> bool:
        """The responder's `ready` record (it names the protocols), then nginx's greeting on the first one."""
        ready = next((record for record, _ in records(container.log()) if record.get("event") == "ready"), None)
        ports = ready.get("ports") if ready else None
        if not isinstance(ports, dict) or not ports:
            return False
        protocol = next(iter(ports))
        greeting = container.greeting(PROTOCOLS[protocol].port) or ""
        return greeting.startswith(GREETINGS[nginx_protocol(protocol)])

    def observe(self, node: NodePlan, image: NodeImage, log: str) -> NodeObservation:
        spec = node.spec
        assert isinstance(spec, NginxNode)
        events = [auth_http_event(record, line) for record, line in records(log) if record.get("event") == "auth_http"]
        events += error_log_events(log)
        description = f"{NAME} {image.short_version} (xclient {'on' if spec.xclient else 'off'})"
        return NodeObservation(node.name, description, tuple(events), log, kind_is_server=False)

