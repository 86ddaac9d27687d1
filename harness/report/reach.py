"""What `--keep` prints: per kept node, commands a mail operator pastes to reach it from the Docker host (curl for
IMAP and POP3, swaks for submission, SMTP and LMTP, nc for an ID or XCLIENT by hand, openssl where TLS is on,
docker exec and logs). Pure: a Plan and the containers' names in, text out; nothing here knows a kind by name.

From the Docker host a connection to a node comes from the network's gateway, which is the scenario's `client`
address: a node that trusts `client` trusts what is pasted here too."""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Literal

from harness.kinds import registry
from harness.kinds.operator import OperatorSettings, texts_of
from harness.load.scenario import ClientSession, Login, Mail
from harness.load.values import text_of
from harness.plan.topology import Plan
from harness.protocol.table import PROTOCOLS

SAMPLE_ADDR = "203.0.113.7"
"""The client address the commands forward (TEST-NET-3, as the scenarios use)."""
SAMPLE_PORT = 41234
TLS_SWITCHES = {"ssl": ("yes", "required"), "smtpd_tls_security_level": ("may", "encrypt")}
"""Server settings that turn STARTTLS on (Dovecot's `ssl`, Postfix's smtpd_tls_security_level); the harness's
own configs set none of them (Dovecot: `ssl = no`)."""
STARTTLS = {row.name: row.name if row.hello == "LHLO" else row.wire for row in PROTOCOLS.values()}
"""openssl s_client's `-starttls` name per protocol (its wire's; LMTP has its own)."""


def served(plan: Plan, name: str) -> tuple[str, ...]:
    """The protocols a node answers: its own setting (a relay's `protocol:`), its kind's `serves`, else (a front
    such as HAProxy or nginx) those of the sessions and hops that reach it."""
    spec = plan.nodes[name].spec
    if spec.protocols():
        return spec.protocols()
    serves = registry.get(spec.kind).serves
    if serves:
        return serves
    found = [session.protocol for session in _sessions_reaching(plan, name)]
    found += [protocol for other in plan.nodes.values() if other.spec.to == name for protocol in other.spec.protocols()]
    return tuple(dict.fromkeys(found))


def _sessions_reaching(plan: Plan, name: str, protocol: str | None = None) -> list[ClientSession]:
    """The client sessions whose chain (from the node they connect to, along `to:`) passes `name`."""
    found = []
    for session in plan.scenario.clients:
        current: str | None = session.to
        seen: list[str] = []
        while current is not None and current not in seen and current in plan.nodes:
            seen.append(current)
            current = plan.nodes[current].spec.to
        if name in seen and protocol in (None, session.protocol):
            found.append(session)
    return found


def _login(plan: Plan, name: str, protocol: str) -> Login | None:
    """The login the scenario's sessions of this protocol bring to this node (the first), or None."""
    return next((session.login for session in _sessions_reaching(plan, name, protocol) if session.login), None)


def _mail(plan: Plan, name: str, protocol: str) -> Mail:
    return next((session.mail for session in _sessions_reaching(plan, name, protocol) if session.mail),
                Mail.model_validate({}))


def trusts_host(plan: Plan, name: str, field: str = "trust") -> bool:
    """Whether one of the node's trust lists holds the client address (the host's, as the node sees it)."""
    client = ipaddress.ip_address(plan.client_address)
    return any(client in ipaddress.ip_network(network, strict=False)
               for network in plan.nodes[name].networks.get(field, ()) if ":" not in network)


def _proxy_note(plan: Plan, name: str) -> str:
    """A PROXY listener takes a header from whom the node's other trust lists name (Dovecot's haproxy_trusted):
    say so when the host is in none of them. A node without such a list takes a header from anyone."""
    others = [field for field in plan.nodes[name].networks if field != "trust"]
    if not others or any(trusts_host(plan, name, field) for field in others):
        return ""
    return f"  # refused: {plan.client_address} is not in {name}'s {' or '.join(others)}"


def tls_on(plan: Plan, name: str) -> bool:
    """Whether the operator's settings on the node turn STARTTLS on (on any version, for version-keyed text)."""
    spec = plan.nodes[name].spec
    if not isinstance(spec, OperatorSettings):
        return False
    values = [(key, str(value)) for key, value in spec.settings.items()]
    for text in [*texts_of(spec.config), spec.config_file or ""]:
        values += re.findall(r"^\s*([A-Za-z_][\w-]*)\s*=\s*(\S*)", text, re.MULTILINE)
    last = {key: value for key, value in values if key in TLS_SWITCHES}
    return any(value.lower() in TLS_SWITCHES[key] for key, value in last.items())


def commands(plan: Plan, name: str) -> list[tuple[str, str]]:
    """(label, command) pairs for one node: per protocol it serves, then TLS."""
    node = plan.nodes[name]
    address = node.address
    server = registry.get(node.spec.kind).is_server
    trusted = trusts_host(plan, name)
    ignored = "" if trusted or not server else f"  # ignored: {name} does not trust {plan.client_address}"
    found: list[tuple[str, str]] = []
    for protocol in served(plan, name):
        row = PROTOCOLS[protocol]
        login = _login(plan, name, protocol) or Login()
        user, password = login.user, login.password
        proxy_port = node.spec.proxy_protocol_port(protocol)
        if not row.carries_mail:  # IMAP, POP3: curl speaks them
            found.append((protocol, f"curl -v {row.wire}://{address}/ -u {shlex.quote(f'{user}:{password}')}"))
            found.append((f"{protocol} {'ID' if row.forwards_with == 'id' else 'XCLIENT'}",
                          _by_hand(row.tagged, address, row.port, user, password) + ignored))
            if proxy_port is not None:
                found.append((f"{protocol} PROXY", f"curl -v --haproxy-protocol {row.wire}://{address}:{proxy_port}/ "
                                                   f"-u {shlex.quote(f'{user}:{password}')}" + _proxy_note(plan, name)))
            continue
        mail, sent = _mail(plan, name, protocol), _login(plan, name, protocol)
        found.append((protocol, _swaks(address, row.port, protocol, mail, sent, user, password,
                                       xclient="send" if server and trusted else "optional")))
        if proxy_port is not None:
            found.append((f"{protocol} PROXY", _swaks(address, proxy_port, protocol, mail, sent, user, password,
                                                      xclient="proxy") + _proxy_note(plan, name)))
    if tls_on(plan, name):
        found += [(f"{protocol} TLS", f"openssl s_client -connect {address}:{PROTOCOLS[protocol].port} "
                                      f"-starttls {STARTTLS[protocol]}")
                  for protocol in served(plan, name) if protocol in STARTTLS]
    else:
        found.append(("TLS", "none: plain text only (nothing in this node's config turns TLS on)"))
    return found


def _by_hand(tagged: bool, address: str, port: int, user: str, password: str) -> str:
    """An ID (IMAP, whose commands are tagged) or XCLIENT (POP3) with the sample client, then a login, typed at
    the server with nc."""
    if tagged:
        lines = [f'a ID ("x-originating-ip" "{SAMPLE_ADDR}" "x-originating-port" "{SAMPLE_PORT}")',
                 f"b LOGIN {_imap_string(user)} {_imap_string(password)}", "c LOGOUT"]
    else:
        lines = [f"XCLIENT ADDR={SAMPLE_ADDR} PORT={SAMPLE_PORT}", f"USER {user}", f"PASS {password}", "QUIT"]
    return f"printf '%s\\r\\n' {' '.join(shlex.quote(line) for line in lines)} | nc -w 5 {address} {port}"


def _imap_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _swaks(address: str, port: int, protocol: str, mail: Mail, sent: Login | None, user: str, password: str, *,
           xclient: Literal["send", "optional", "proxy"]) -> str:
    """swaks with the scenario's envelope and login (`--auth-optional`, AUTH only if offered, where the scenario
    sends none), and the sample client: in an XCLIENT (`optional`: only if the node offers XCLIENT), or in a
    PROXY v1 header (a PROXY listener)."""
    parts = ["swaks", "--server", f"{address}:{port}"]
    if PROTOCOLS[protocol].hello == "LHLO":
        parts += ["--protocol", "LMTP"]
    parts += ["--from", text_of(mail.sender), *[item for to in mail.to for item in ("--to", text_of(to))]]
    if PROTOCOLS[protocol].has_login:
        parts += ["--auth" if sent else "--auth-optional", "PLAIN", "--auth-user", user, "--auth-password", password]
    if xclient != "proxy":
        parts += ["--xclient-addr", SAMPLE_ADDR, "--xclient-port", str(SAMPLE_PORT)]
        parts += ["--xclient-optional"] if xclient == "optional" else []
    else:
        parts += ["--proxy-version", "1", "--proxy-family", "TCP4", "--proxy-source", SAMPLE_ADDR,
                  "--proxy-source-port", str(SAMPLE_PORT), "--proxy-dest", address, "--proxy-dest-port", str(port)]
    return " ".join(shlex.quote(part) for part in parts)


def keep_text(plan: Plan, docker_names: Mapping[str, str]) -> str:
    """The whole `--keep` text: per node its address, the commands to reach it, its shell and log."""
    lines = ["kept for debugging (labelled mailhops.kept: other runs leave them alone; remove them with "
             "python -m harness sweep):",
             f"  from this host you connect as {plan.client_address}, the scenario's `client` "
             f"(nodes that trust `client` trust you)"]
    for name, node in plan.nodes.items():
        container = docker_names.get(name, "")
        lines.append(f"  {name} ({node.describe()}): {node.address}" + (f" [{node.address6}]" if node.address6 else ""))
        entries = [("shell", f"docker exec -it {container} sh"), ("log", f"docker logs -f {container}")]
        entries += commands(plan, name)
        lines += _aligned(entries)
    return "\n".join(lines)


def _aligned(entries: Iterable[tuple[str, str]]) -> list[str]:
    entries = list(entries)
    width = max((len(label) for label, _ in entries), default=0) + 1
    return [f"    {label + ':':<{width}} {command}" for label, command in entries]
