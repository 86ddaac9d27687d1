"""The nginx kind: nginx.conf rendering, the auth_http responder (its answer, and a real HTTP exchange on
127.0.0.1), parsing of what nginx 1.22/1.26/1.30 really wrote, and (with Docker) that its expectations can fail."""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path

import pytest

from harness.kinds.nginx import auth_http
from harness.kinds.nginx.kind import (
    auth_http_event,
    error_log_events,
    nginx_protocol,
    proxied_protocols,
    records,
    render_nginx_conf,
    responder_config,
)
from harness.load.scenario import ScenarioError, load_scenario
from harness.plan.topology import plan
from tests.conftest import WriteScenario
from tests.docker_support import docker_client, has_fail_line, run_scenarios, shipped, write

SCENARIO = """\
nodes:
  front: {kind: nginx, to: pf, xclient: false, smtp_auth: [plain], proxy_smtp_auth: true}
  inner: {kind: nginx, to: pf}
  edge: {kind: relay, mode: pass, protocol: pop3, to: inner}
  pf: {kind: postfix, trust: [front]}
clients:
  - {protocol: smtp, to: front}
  - {protocol: submission, to: front, login: {user: alice, password: secret}}
  - {protocol: imap, to: inner}
  - {protocol: pop3, to: edge}
"""

# What nginx 1.30.6 (forky) and 1.22.1 (bookworm) wrote in the shipped scenarios.
LOGGED_IN = ('2026/12/01 22:39:13 [info] 8#8: *5 client logged in, client: 10.219.7.1, server: 0.0.0.0:25, '
             'login: "alice", upstream: 10.219.7.11:25')
REFUSED = ('2026/12/01 22:10:02 [info] 8#8: *2 upstream sent invalid response: "550 5.7.0 Error: insufficient '
           'authorization" while reading response from upstream, client: 10.99.0.1, server: 0.0.0.0:25')
CONNECTED = "2026/12/01 22:39:12 [info] 8#8: *1 client 10.219.7.1:33200 connected to 0.0.0.0:25"
NOTICE = "2026/12/01 22:39:11 [notice] 1#1: start worker process 8"
RECORD = json.dumps({"event": "auth_http", "method": "GET", "uri": "/auth/smtp", "headers": [
    ["Auth-Method", "none"], ["Auth-User", ""], ["Client-IP", "10.219.7.1"], ["Auth-SMTP-Helo", "anon.example"],
    ["Auth-SMTP-From", "MAIL%20FROM:<anon@example.net>"]], "answer": [["Auth-Status", "OK"]]})


@pytest.fixture
def the_plan(write_scenario: WriteScenario):  # type: ignore[no-untyped-def]
    return plan(load_scenario(write_scenario(SCENARIO)), {"postfix": "3.10.13"}, "10.77.5.0/24")


def test_one_server_per_protocol_that_reaches_the_node(the_plan) -> None:  # type: ignore[no-untyped-def]
    front, inner = the_plan.nodes["front"], the_plan.nodes["inner"]
    assert proxied_protocols(front, the_plan) == ("smtp", "submission")
    assert proxied_protocols(inner, the_plan) == ("imap", "pop3")   # pop3 through the pass relay
    conf = render_nginx_conf(front, ("smtp", "submission"))
    assert "xclient off;" in conf and "server_name front.mailhops.test;" in conf
    assert conf.count("    server {  # ") == 2 and "listen 25;" in conf and "listen 587;" in conf
    assert "auth_http 127.0.0.1:9000/auth/submission;" in conf and conf.count("protocol smtp;") == 2
    assert "smtp_auth plain;" in conf and "proxy_smtp_auth on;" in conf
    inner_conf = render_nginx_conf(inner, ("imap", "pop3"))
    assert "xclient on;" in inner_conf and "protocol imap;" in inner_conf and "protocol pop3;" in inner_conf
    assert "smtp_auth" not in inner_conf and "proxy_smtp_auth" not in inner_conf
    assert responder_config(front, ("smtp", "submission")) == {
        "listen": ["127.0.0.1", 9000], "server": the_plan.nodes["pf"].address, "ports": {"smtp": 25, "submission": 587}}


def test_lmtp_is_refused() -> None:
    assert nginx_protocol("submission") == "smtp"
    with pytest.raises(ValueError, match="does not speak lmtp"):
        nginx_protocol("lmtp")


@pytest.mark.parametrize(("node", "message"), [
    ("{kind: nginx}", "needs `to:`"),
    ("{kind: nginx, to: pf, trust: [client]}", "takes no `trust:`"),
    ("{kind: nginx, to: pf, smtp_auth: [cram-md5]}", "smtp_auth"),
])
def test_model_errors(write_scenario: WriteScenario, node: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_scenario(write_scenario(f"nodes:\n  front: {node}\n  pf: {{kind: postfix}}\n"
                                     "clients:\n  - {protocol: smtp, to: front}\n"))


def test_the_responder_answers_with_the_backend_and_the_port() -> None:
    config = {"server": "10.1.2.3", "ports": {"smtp": 25, "submission": 587}}
    assert auth_http.answer("/auth/submission", [("Auth-Protocol", "smtp")], config) == [
        ("Auth-Status", "OK"), ("Auth-Server", "10.1.2.3"), ("Auth-Port", "587")]
    # without a protocol in the URI, nginx's Auth-Protocol header says which
    assert auth_http.answer("/auth", [("Auth-Protocol", "imap")], config)[2] == ("Auth-Port", "143")
    refused = auth_http.answer("/auth/lmtp", [], config)
    assert refused[0][0] == "Auth-Status" and refused[0][1] != "OK"


def test_the_responder_over_http(capsys: pytest.CaptureFixture[str]) -> None:
    server = auth_http.serve({"listen": ["127.0.0.1", 0], "server": "10.1.2.3", "ports": {"pop3": 110}})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        connection = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
        # what nginx sends (HTTP/1.0, one request per connection)
        connection.request("GET", "/auth/pop3", headers={"Auth-Method": "plain", "Auth-User": "alice",
                                                         "Auth-Pass": "secret", "Auth-Protocol": "pop3",
                                                         "Client-IP": "203.0.113.9"})
        response = connection.getresponse()
        assert response.status == 200
        assert (response.getheader("Auth-Status"), response.getheader("Auth-Server"),
                response.getheader("Auth-Port")) == ("OK", "10.1.2.3", "110")
        connection.close()
    finally:
        server.shutdown()
        server.server_close()
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (record, _), = records(line)
    event = auth_http_event(record, line)
    assert event.fields["Client-IP"] == "203.0.113.9" and event.fields["Auth-User"] == "alice"
    assert event.fields["uri"] == "/auth/pop3" and event.fields["method"] == "GET"
    assert record["answer"] == [["Auth-Status", "OK"], ["Auth-Server", "10.1.2.3"], ["Auth-Port", "110"]]


def test_auth_http_records_are_decoded() -> None:
    (record, line), = records(f"{NOTICE}\n{RECORD}\n")
    event = auth_http_event(record, line)
    assert event.kind == "auth_http" and event.line == RECORD
    assert event.fields["Auth-SMTP-From"] == "MAIL FROM:<anon@example.net>"   # nginx %-escapes the client's text
    assert event.fields["Auth-User"] == "" and event.fields["Auth-SMTP-Helo"] == "anon.example"


def test_error_log_lines() -> None:
    logged_in, refused, connected = error_log_events("\n".join([NOTICE, LOGGED_IN, REFUSED, CONNECTED, RECORD]))
    assert logged_in.fields == {"level": "info", "connection": "5", "message": "client logged in",
                                "client": "10.219.7.1", "server": "0.0.0.0", "server_port": "25", "login": "alice",
                                "upstream": "10.219.7.11", "upstream_port": "25"}
    assert refused.fields["message"] == 'upstream sent invalid response: "550 5.7.0 Error: insufficient authorization"'
    assert refused.fields["action"] == "reading response from upstream" and "upstream" not in refused.fields
    assert connected.fields["message"] == "client 10.219.7.1:33200 connected to 0.0.0.0:25"


@pytest.mark.docker
def test_wrong_nginx_expectations_fail_naming_the_hop_and_the_parameter(tmp_path: Path) -> None:
    docker_client()
    wrong = shipped("nginx/smtp_to_postfix")
    front = wrong["expect"]["front"]
    front["auth_http"][0]["Auth-SMTP-Helo"] = "other.example"
    front["error_log"]["login"] = "bob"
    wrong["expect"]["pf"]["client"][1]["sasl_username"] = "bob"
    write(tmp_path, "smtp_to_postfix_wrong", wrong)
    failures = run_scenarios(tmp_path)
    assert set(failures) == {f"smtp_to_postfix_wrong[postfix-{v}]" for v in ("3.7", "3.10", "3.11")}, failures
    for item, text in failures.items():
        assert text is not None, f"{item} passed with wrong expectations"
        assert has_fail_line(text, "front", "auth_http[0].Auth-SMTP-Helo"), text
        assert has_fail_line(text, "front", "error_log.login"), text
        assert has_fail_line(text, "pf", "client[1].sasl_username"), text
        assert "nginx 1." in text      # the hop's header names the nginx version of the generation
