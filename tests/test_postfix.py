"""Postfix: log parsing on lines real 3.7.11 / 3.10.13 servers wrote, and main.cf rendering."""

from __future__ import annotations

from harness.kinds.postfix.kind import render_main_cf
from harness.kinds.postfix.log import events_from_log
from harness.load.scenario import load_scenario
from harness.plan.topology import plan
from tests.conftest import WriteScenario

CONNECT = "Nov 25 14:56:43 pf postfix/smtpd[98]: connect from unknown[10.250.5.1]:43656"
WARN_37 = ("Nov 25 14:56:43 pf postfix/smtpd[98]: NOQUEUE: warn: RCPT from orig.example[203.0.113.9]:4000: "
           "mailhops-observe; from=<a@example.test> to=<bob@example.net> proto=ESMTP helo=<client.example>")
WARN_310 = ("Nov 25 15:04:49 pf postfix/smtpd[165]: NOQUEUE: warn: RCPT from 3cc7.mailhops-f02f[2001:db8::7]:51235: "
            "mailhops-observe; from=<carol@example.test> to=<bob@example.net> proto=ESMTP "
            "helo=<proxy.mailhops.test> sasl_method=XCLIENT sasl_username=carol")
CLIENT = ("Nov 25 14:56:43 pf postfix/smtpd[98]: 6B7B71A8070: client=orig.example[203.0.113.9]:4000, "
          "sasl_method=XCLIENT, sasl_username=alice")
CLIENT_PLAIN = "Nov 25 14:56:43 pf postfix/smtpd[103]: 6E3221A8073: client=unknown[2001:db8::7]:4001"
DISCONNECT = ("Nov 25 14:56:43 pf postfix/smtpd[98]: disconnect from orig.example[203.0.113.9]:4000 ehlo=2 "
              "xclient=0/1 mail=1 rcpt=1 data=1 quit=1 commands=6/7")


def test_connect_and_client_lines() -> None:
    (connect,) = events_from_log(CONNECT)
    assert connect.kind == "connect" and connect.fields == {"name": "unknown", "addr": "10.250.5.1", "port": "43656"}
    (client,) = events_from_log(CLIENT)
    assert client.kind == "client"
    assert client.fields == {"name": "orig.example", "addr": "203.0.113.9", "port": "4000", "queue_id": "6B7B71A8070",
                             "sasl_method": "XCLIENT", "sasl_username": "alice"}
    (plain,) = events_from_log(CLIENT_PLAIN)
    assert plain.fields["addr"] == "2001:db8::7" and "sasl_username" not in plain.fields


def test_recipient_warn_lines_of_both_versions() -> None:
    (warn_37,) = events_from_log(WARN_37)
    assert warn_37.kind == "recipient"
    assert warn_37.fields == {"name": "orig.example", "addr": "203.0.113.9", "port": "4000", "from": "a@example.test",
                              "to": "bob@example.net", "proto": "ESMTP", "helo": "client.example"}
    (warn_310,) = events_from_log(WARN_310)
    assert warn_310.fields["sasl_username"] == "carol" and warn_310.fields["helo"] == "proxy.mailhops.test"


def test_disconnect_counters() -> None:
    (event,) = events_from_log(DISCONNECT)
    assert event.fields["xclient"] == "0/1" and event.fields["ehlo"] == "2" and event.fields["commands"] == "6/7"


def test_main_cf(write_scenario: WriteScenario) -> None:
    scenario = load_scenario(write_scenario("""\
nodes:
  front: {kind: relay, mode: inject, protocol: smtp, to: pf, xclient: {ADDR: 203.0.113.9}}
  pf: {kind: postfix, trust: [front, 198.51.100.0/24], inet_protocols: ipv4}
clients:
  - {protocol: smtp, to: front}
"""))
    the_plan = plan(scenario, {"postfix": "3.10.13"}, "10.77.5.0/24")
    main_cf = render_main_cf(the_plan.nodes["pf"])
    assert "smtpd_authorized_xclient_hosts = 10.77.5.10/32 198.51.100.0/24\n" in main_cf
    assert "inet_protocols = ipv4\n" in main_cf and "maillog_file = /dev/stdout\n" in main_cf
    assert "myhostname = pf.mailhops.test\n" in main_cf and "myorigin = $myhostname\n" in main_cf
