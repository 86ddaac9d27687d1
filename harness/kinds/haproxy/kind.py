"""HAProxy nodes: Debian's HAProxy from the item's generation (bookworm 2.6, trixie 3.0, forky 3.2), config rendered
from `haproxy.cfg` beside this file, `haproxy -db` logging to stdout; ready when its monitor URI answers; observed
through its connection log lines."""

from __future__ import annotations

import http.client
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from harness.kinds.base import ImageRecipe, NodeImage, NodeKind, NodeModel, dockerfile_recipe, node_container
from harness.kinds.haproxy.model import HaproxyNode
from harness.observe.events import Event, NodeObservation
from harness.protocol.table import PROTOCOLS
from harness.provision.spec import ContainerSpec

if TYPE_CHECKING:
    from harness.load.scenario import Scenario
    from harness.plan.topology import NodePlan, Plan
    from harness.plan.versions import ServerRelease
    from harness.provision.container import NodeContainer

NAME = "haproxy"
FOLDER = Path(__file__).resolve().parent
TEMPLATE = FOLDER / "haproxy.cfg"
CONFIG_PATH = "/etc/mailhops/haproxy.cfg"
DEFAULT_SUITE = "bookworm"
"""Without a server in the item, HAProxy comes from this suite."""
READY_PORT = 8404
READY_URI = "/ready"
OBSERVABLE = frozenset({"connect"})
SEND_PROXY = {"none": "", "v1": "send-proxy", "v2": "send-proxy-v2", "v2-tlv": "send-proxy-v2"}
TLV_OPTIONS = "proxy-v2-options ssl,unique-id,crc32c"
"""The TLVs HAProxy adds in TCP mode without TLS: SSL (client flags 0), UNIQUE_ID, CRC32C."""
AUTHORITY_TLV = 0x02
CUSTOM_TLV_SINCE = (2, 9)
"""`set-proxy-v2-tlv-fmt` (any TLV, here AUTHORITY) is HAProxy 2.9's."""
UNIQUE_ID_FORMAT = "%{+X}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid"
LOG_TAG = "mailhops-connect"
LOG_FIELDS = (("protocol", "%f"), ("addr", "%ci"), ("port", "%cp"), ("lip", "%fi"), ("lport", "%fp"),
              ("server_addr", "%si"), ("server_port", "%sp"), ("termination", "%ts"), ("bytes_in", "%U"),
              ("bytes_out", "%B"), ("unique_id", "%ID"))
"""What each connection line holds (tcplog's fields, named): the client address HAProxy saw, the frontend's, the
next hop's, how the connection ended (`--` normally, `SD` when the server closed it) and the bytes each way."""
_LINE = re.compile(rf"^{LOG_TAG} (?P<fields>.*)$")


def log_format() -> str:
    return " ".join([LOG_TAG, *(f"{key}={variable}" for key, variable in LOG_FIELDS)])


def protocols_reaching(name: str, scenario: Scenario) -> tuple[str, ...]:
    """The protocols of the client sessions whose chain (from the node they connect to, along `to:`) reaches
    `name`, in the order of the sessions."""
    found: list[str] = []
    for session in scenario.clients:
        seen: list[str] = []
        current: str | None = session.to
        while current is not None and current not in seen and current in scenario.nodes:
            seen.append(current)
            current = scenario.nodes[current].to
        if name in seen:
            found.append(session.protocol)
    return tuple(dict.fromkeys(found))


def version_tuple(version: str | None) -> tuple[int, ...]:
    """`2.6.12-1+deb12u4` -> (2, 6, 12); unknown -> ()."""
    digits = re.match(r"^\d+(?:\.\d+)*", version or "")
    return tuple(int(part) for part in digits.group(0).split(".")) if digits else ()


def target_port(node: NodePlan, plan: Plan, protocol: str) -> int:
    """Where the node sends `protocol`: the next hop's PROXY listener, or its own port without a header."""
    spec = node.spec
    assert isinstance(spec, HaproxyNode)
    if spec.proxy == "none":
        return PROTOCOLS[protocol].port
    port = plan.nodes[spec.to].spec.proxy_protocol_port(protocol)
    if port is None:
        raise ValueError(f"haproxy node `{node.name}` sends a PROXY header ({spec.proxy}) to `{spec.to}`, which "
                         f"takes none for {protocol}: give `{spec.to}` `haproxy: true` (a Dovecot or Postfix node), "
                         "or this node `proxy: none`")
    return port


def server_options(spec: HaproxyNode, version: str | None) -> str:
    """The `server` line's PROXY options for the node's version of HAProxy."""
    options = [SEND_PROXY[spec.proxy]]
    if spec.proxy == "v2-tlv":
        options.append(TLV_OPTIONS)
        if version_tuple(version)[:2] >= CUSTOM_TLV_SINCE:
            options.append(f"set-proxy-v2-tlv-fmt(0x{AUTHORITY_TLV:02x}) {spec.authority}")
    return " ".join(option for option in options if option)


def render_config(node: NodePlan, plan: Plan, version: str | None = None) -> str:
    """haproxy.cfg: a `listen` section per protocol that reaches the node, on the protocol's port (IPv4, and
    IPv6 when the node has an address there), forwarding to the next hop."""
    spec = node.spec
    assert isinstance(spec, HaproxyNode)
    assert node.upstream is not None
    sections = []
    for protocol in protocols_reaching(node.name, plan.scenario):
        port = PROTOCOLS[protocol].port
        lines = [f"listen {protocol}", f"    bind 0.0.0.0:{port}"]
        if node.address6:
            lines.append(f"    bind :::{port} v6only")
        server = f"    server next {node.upstream}:{target_port(node, plan, protocol)}"
        options = server_options(spec, version)
        lines.append(f"{server} {options}" if options else server)
        sections.append("\n".join(lines))
    values = {"node": node.name, "to": spec.to, "proxy": f"PROXY {spec.proxy}" if spec.proxy != "none"
              else "no PROXY header", "log_format": log_format(), "unique_id_format": UNIQUE_ID_FORMAT,
              "ready_port": READY_PORT, "sections": "".join(f"\n{section}\n" for section in sections)}
    return string.Template(TEMPLATE.read_text()).substitute(values)


def events_from_log(log: str) -> tuple[Event, ...]:
    """Each connection line -> a `connect` event with the named fields."""
    events = []
    for line in log.splitlines():
        if match := _LINE.match(line.strip()):
            fields = dict(part.partition("=")[::2] for part in match.group("fields").split(" ") if "=" in part)
            events.append(Event("connect", fields, line))
    return tuple(events)


def monitor_answers(address: str, timeout: float = 1.0) -> bool:
    """One GET of the monitor URI: 200 once HAProxy has bound its listeners."""
    connection = http.client.HTTPConnection(address, READY_PORT, timeout=timeout)
    try:
        connection.request("GET", READY_URI)
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


class HaproxyKind(NodeKind):
    name = NAME
    model = HaproxyNode
    is_server = False
    """Its log is not crash-checked: the next hop's log tells what went wrong."""
    version_command = ("sh", "-c", "haproxy -v | head -n1 | cut -d' ' -f3")
    package_command = ("dpkg-query", "-W", "-f", "${Version}", "haproxy")
    categories = OBSERVABLE

    def variant(self, spec: NodeModel) -> str:
        assert isinstance(spec, HaproxyNode)
        return spec.proxy

    def describe(self, spec: NodeModel) -> str:
        return f"{NAME} {self.variant(spec)}"

    def observable(self, spec: NodeModel) -> frozenset[str]:
        return OBSERVABLE

    def recipe(self, release: ServerRelease | None) -> ImageRecipe:
        suite = release.suite if release is not None and release.suite else DEFAULT_SUITE
        return dockerfile_recipe(NAME, suite, FOLDER)

    def container_spec(self, node: NodePlan, plan: Plan, image: NodeImage, labels: Mapping[str, str]) -> ContainerSpec:
        files = {CONFIG_PATH: render_config(node, plan, image.version).encode()}
        return node_container(node, image, labels, ("haproxy", "-db", "-f", CONFIG_PATH), files=files)

    def ready(self, node: NodePlan, container: NodeContainer) -> bool:
        return monitor_answers(node.address)

    def observe(self, node: NodePlan, image: NodeImage, log: str) -> NodeObservation:
        description = f"{NAME} {image.short_version} ({self.variant(node.spec)})".replace("  ", " ")
        return NodeObservation(node.name, description, events_from_log(log), log, kind_is_server=False)
