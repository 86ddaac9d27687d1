"""The operator's own settings on Dovecot and Postfix nodes: rendered after the harness's config so they win,
read from a file beside the scenario, refused at load time where they would break observation, and a config
written for the wrong major version fails with the server's own error and the node's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.kinds.dovecot.kind import render_config
from harness.kinds.postfix.kind import render_main_cf, start_command
from harness.load.scenario import ScenarioError, load_scenario
from harness.plan.topology import plan
from tests.conftest import WriteScenario
from tests.docker_support import docker_client, failures_by_item

NODE = """\
nodes:
  p:
    kind: dovecot
    role: proxy
    to: b
    trust: [client]
{extra}
  b: {{kind: dovecot, role: backend, trust: [p]}}
clients:
  - to: p
"""


def rendered(write_scenario: WriteScenario, extra: str, version: str = "2.4.1") -> str:
    scenario = load_scenario(write_scenario(NODE.format(extra=extra)))
    the_plan = plan(scenario, {"dovecot": version}, "10.77.9.0/24")
    return render_config(the_plan.nodes["p"], the_plan, ".".join(version.split(".")[:2]), version=version)


def test_settings_come_last_so_they_win(write_scenario: WriteScenario) -> None:
    text = rendered(write_scenario, '    settings: {login_trusted_networks: "10.0.0.0/8"}')
    assert text.rstrip().endswith("login_trusted_networks = 10.0.0.0/8")
    assert text.index("login_trusted_networks = 10.77.9.1/32") < text.index("login_trusted_networks = 10.0.0.0/8")


def test_config_per_version_and_from_a_file(write_scenario: WriteScenario, tmp_path: Path) -> None:
    keyed = '    config: {dovecot-2.3: "auth_cache_size = 1M", dovecot-2.4: "auth_cache_size = 2M"}'
    assert "auth_cache_size = 2M" in rendered(write_scenario, keyed)
    assert "auth_cache_size = 1M" in rendered(write_scenario, keyed, "2.3.19.1")
    (tmp_path / "scenarios").mkdir(exist_ok=True)
    (tmp_path / "scenarios" / "operator.conf").write_text("auth_cache_ttl = 1 hour\n")
    assert rendered(write_scenario, "    config_file: operator.conf").rstrip().endswith("auth_cache_ttl = 1 hour")


@pytest.mark.parametrize(("extra", "message"), [
    ("    settings: {login_log_format_elements: x}", "nodes.p.settings: the harness owns `login_log_format_elements`"),
    ('    config: "log_path = /var/log/dovecot.log"', "nodes.p.config: the harness owns `log_path`"),
    ("    config_file: missing.conf", "nodes.p.config_file: cannot read"),
])
def test_settings_the_harness_needs_are_refused_at_load(write_scenario: WriteScenario, extra: str,
                                                         message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_scenario(write_scenario(NODE.format(extra=extra)))


def test_a_setting_inside_a_section_is_the_operators(write_scenario: WriteScenario) -> None:
    section = '    config: "service imap-login {\\n  process_min_avail = 1\\n}\\nlog_path = /dev/null"'
    with pytest.raises(ScenarioError, match="the harness owns `log_path`"):
        load_scenario(write_scenario(NODE.format(extra=section)))
    inner = '    config: "protocol imap {\\n  log_path = /dev/null\\n}"'
    assert "protocol imap" in rendered(write_scenario, inner)


def test_postfix_settings_and_master_entries(write_scenario: WriteScenario) -> None:
    scenario = load_scenario(write_scenario("""\
nodes:
  pf:
    kind: postfix
    settings: {smtpd_authorized_xclient_hosts: "10.0.0.0/8"}
    master: {"2525/inet": "2525 inet n - n - - smtpd"}
clients:
  - {protocol: smtp, to: pf}
"""))
    node = plan(scenario, {"postfix": "3.7.11"}, "10.77.9.0/24").nodes["pf"]
    assert render_main_cf(node, "3.7.11").rstrip().endswith("smtpd_authorized_xclient_hosts = 10.0.0.0/8")
    assert "postconf -M '2525/inet=2525 inet n - n - - smtpd' && exec postfix start-fg" in start_command(node.spec)
    with pytest.raises(ScenarioError, match="the harness owns `maillog_file`"):
        load_scenario(write_scenario("nodes:\n  pf: {kind: postfix, settings: {maillog_file: /var/log/x}}\n"
                                     "clients:\n  - {protocol: smtp, to: pf}\n", name="owned"))


@pytest.mark.docker
def test_a_config_for_the_wrong_major_fails_with_the_servers_error_and_the_node(tmp_path: Path) -> None:
    import subprocess
    import sys

    docker_client()
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "wrong.yaml").write_text(
        'servers: {dovecot: ["2.4"]}\n' + NODE.format(extra='    config: "mail_location = maildir:~/Maildir"'))
    junit = tmp_path / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-p", "harness.pytest.plugin", "scenarios", "--dovecot", "2.4.1",
                    f"--junitxml={junit}", "-q", "-p", "no:cacheprovider"], cwd=tmp_path, capture_output=True,
                   text=True, timeout=600, check=False)
    failures = failures_by_item(junit)
    text = failures["wrong[dovecot-2.4.1]"] or ""
    assert "node `p` (dovecot proxy) exited" in text, text
    assert "mail_location" in text and "Fatal" in text, text
