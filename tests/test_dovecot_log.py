"""Dovecot log parsing on lines real 2.3.19 and 2.4.1 servers wrote (see shared/reference/observed-*.md)."""

from __future__ import annotations

from harness.kinds.dovecot.log import events_from_log, parse_elements, parse_forward_fields

LOGIN_23 = ("Nov 25 14:38:20 imap-login: Info: Login: user=<alice>, method=PLAIN, rip=203.0.113.7, rport=51234, "
            "lip=10.250.1.20, lport=143, session=<abc123>, fwd_tenant=<acme>")
LOGIN_24 = ("Nov 25 14:38:25 imap-login: Info: Logged in: user=<alice>, method=PLAIN, rip=203.0.113.7, rport=51234, "
            "lip=10.250.1.20, lport=143, session=<abc123>, fwd_tenant=<acme>")
PROXIED_24 = ("Nov 25 14:38:25 imap-login: Info: proxy(alice,10.250.1.30:143): Started proxying to remote host "
              "(0.025 secs): user=<alice>, method=PLAIN, rip=203.0.113.7, rport=51234, lip=10.250.1.20, lport=143, "
              "session=<abc123>, fwd_tenant=<acme>")
PROXIED_23 = ("imap-login: Info: proxy(alice,10.250.1.30:143): Started proxying to <10.250.1.30> (0.017 secs): "
              "user=<alice>, method=PLAIN, rip=203.0.113.7, rport=51234, session=<abc123>")
AUTH_23 = ("Nov 25 14:38:20 auth: Debug: client in: AUTH\t1\tPLAIN\tservice=imap\tsecured\tsession=abc123\t"
           "lip=10.250.1.20\trip=203.0.113.7\tlport=143\trport=51234\treal_rip=10.250.1.1\treal_rport=40064\t"
           "forward_fields=tenant=acme\tresp=<hidden>")
AUTH_24 = ("Nov 25 14:38:25 auth: Debug: conn unix:login (pid=11,uid=101) [1]: client in: AUTH\t1\tPLAIN\t"
           "protocol=imap\tfinal-resp-ok\tsecured\tsession=abc123\tlip=10.250.1.20\trip=203.0.113.7\tlport=143\t"
           "rport=51234\treal_rip=10.250.1.1\treal_rport=40078\tforward_fields=tenant=acme\x01tzone=eu 1\t"
           "resp=<hidden>")
ID_23 = ("imap-login: Info: ID sent: x-session-id=abc123, x-originating-ip=203.0.113.7, x-proxy-ttl=4, "
         "x-forward-tenant=acme: user=<>, rip=203.0.113.7, rport=51234")
ABORTED = ("imap-login: Info: Login aborted: Connection closed (no auth attempts in 0 secs) (no_auth_attempts): "
           "user=<>, rip=10.151.242.1, rport=39594, session=<RlNL2RphqpoKl/IB>, ")


def test_login_lines_of_both_versions() -> None:
    for line in (LOGIN_23, LOGIN_24):
        (event,) = events_from_log(line)
        assert event.kind == "login"
        assert event.fields == {"user": "alice", "method": "PLAIN", "rip": "203.0.113.7", "rport": "51234",
                                "lip": "10.250.1.20", "lport": "143", "session": "abc123", "fwd_tenant": "acme",
                                "service": "imap"}


def test_proxy_start_lines_of_both_versions() -> None:
    for line in (PROXIED_23, PROXIED_24):
        (event,) = events_from_log(line)
        assert event.kind == "proxied" and event.fields["rip"] == "203.0.113.7"
        assert event.fields["session"] == "abc123" and event.fields["result"] == "started"


def test_proxy_login_refused_by_the_next_hop() -> None:
    line = ("pop3-login: Info: proxy(alice,10.70.85.12:110): Login failed: [AUTH] mailhops capture refuses every "
            "login: user=<alice>, method=PLAIN, rip=203.0.113.7, rport=51234, session=<pop3-all-0001>")
    (event,) = events_from_log(line)
    assert event.kind == "proxied" and event.fields["result"] == "login failed"
    assert event.fields["reason"] == "[AUTH] mailhops capture refuses every login"
    assert event.fields["service"] == "pop3" and event.fields["session"] == "pop3-all-0001"


def test_proxy_aborted_by_an_internal_error() -> None:
    line = ("imap-login: Error: proxy(alice,10.143.135.12:143): Aborting due to internal error: [BUG] Invalid "
            "local_name!: user=<alice>, method=PLAIN, rip=10.143.135.1, rport=54996, lip=10.143.135.10, lport=143, "
            "real_rip=10.143.135.10, session=<4DqdMqZh1NYKj4cB>")
    (event,) = events_from_log(line)
    assert event.kind == "proxied" and event.fields["result"] == "internal error"
    assert event.fields["reason"] == "[BUG] Invalid local_name!"
    assert event.fields["service"] == "imap" and event.fields["session"] == "4DqdMqZh1NYKj4cB"


def test_the_passdb_answer_with_its_fields() -> None:
    line_23 = "auth: Debug: client passdb out: FAIL\t1\tuser=alice\tforward_tenant=acme\tforward_nopassword\t"
    line_24 = ("auth: Debug: conn unix:login (pid=13,uid=994) [2]: client passdb out: OK\t1\tuser=alice\t"
               "proxy\thost=10.0.0.12\tforward_nopassword=<hidden>\t")
    (answer_23,) = events_from_log(line_23)
    assert answer_23.kind == "passdb"
    assert answer_23.fields == {"result": "FAIL", "user": "alice", "forward_tenant": "acme", "forward_nopassword": ""}
    (answer_24,) = events_from_log(line_24)
    assert answer_24.fields == {"result": "OK", "user": "alice", "proxy": "", "host": "10.0.0.12",
                                "forward_nopassword": "<hidden>"}


def test_a_proxy_retrying_a_next_hop_then_giving_up() -> None:
    elements = ("user=<alice>, method=PLAIN, rip=203.0.113.33, rport=4033, lip=10.129.48.10, lport=143, "
                "real_rip=10.129.48.1, session=<offered-imap-3>, fwd_tenant=<acme>")
    prefix = "imap-login: {level}: proxy(alice,10.129.48.11:143): Remote server sent invalid input: "
    retry, final = events_from_log(
        prefix.format(level="Warning") + "Remote server doesn't support IMAP4rev1 - reconnecting (attempt #2): "
        + elements + "\n" + prefix.format(level="Error") + "Remote server doesn't support IMAP4rev1: " + elements)
    for event in (retry, final):
        assert event.kind == "proxied" and event.fields["result"] == "invalid input"
        assert event.fields["reason"] == "Remote server doesn't support IMAP4rev1"
        assert event.fields["session"] == "offered-imap-3" and event.fields["fwd_tenant"] == "acme"
    assert retry.fields["reconnect"] == "2" and "reconnect" not in final.fields


def test_the_xclient_a_24_hop_sent() -> None:
    relay = ("submission(alice)<15><XR1g3aZhbpAKvMwB>: Debug: relay: smtp-client: conn 10.188.204.11:25 [1]: command "
             "XCLIENT: Sent: XCLIENT HELO=client.example PROTO=ESMTP LOGIN=alice PORT=36974 ADDR=10.188.204.1")
    proxy = ("pop3-login: Info: Send: XCLIENT ADDR=10.96.109.1 PORT=59876 SESSION=ks2FM6Zh5OkKYG0B TTL=4 "
             "DESTNAME=imap.example.test: user=<alice>, method=PLAIN, rip=10.96.109.1, session=<ks2FM6Zh5OkKYG0B>")
    (sent_by_relay,) = events_from_log(relay)
    assert sent_by_relay.kind == "xclient_sent"
    assert sent_by_relay.fields == {"HELO": "client.example", "PROTO": "ESMTP", "LOGIN": "alice", "PORT": "36974",
                                    "ADDR": "10.188.204.1", "service": "submission"}
    (sent_by_proxy,) = events_from_log(proxy)
    assert sent_by_proxy.fields == {"ADDR": "10.96.109.1", "PORT": "59876", "SESSION": "ks2FM6Zh5OkKYG0B", "TTL": "4",
                                    "DESTNAME": "imap.example.test", "service": "pop3"}


def test_auth_request_fields_and_forward_fields() -> None:
    auth_23, forward_23 = events_from_log(AUTH_23)
    assert auth_23.kind == "auth" and auth_23.fields["real_rip"] == "10.250.1.1"
    assert auth_23.fields["secured"] == "" and auth_23.fields["session"] == "abc123"
    assert forward_23.kind == "forward" and forward_23.fields == {"tenant": "acme"}
    _, forward_24 = events_from_log(AUTH_24)
    assert forward_24.fields == {"tenant": "acme", "zone": "eu 1"}


def test_auth_request_without_forward_fields_has_an_empty_forward_event() -> None:
    line = AUTH_23.replace("forward_fields=tenant=acme\t", "")
    _, forward = events_from_log(line)
    assert forward.fields == {}


def test_id_log_of_2_3() -> None:
    event, ttl = events_from_log(ID_23)
    assert event.kind == "id" and ttl.kind == "ttl" and ttl.fields == {"ttl": "4"}
    assert event.fields == {"x-session-id": "abc123", "x-originating-ip": "203.0.113.7", "x-proxy-ttl": "4",
                            "x-forward-tenant": "acme"}


def test_other_lines_are_not_events() -> None:
    assert events_from_log(ABORTED + "\nmaster: Info: Dovecot v2.4.1-4 starting up\n") == ()


def test_empty_element_and_trailing_comma() -> None:
    assert parse_elements("user=<>, rip=1.2.3.4, secured, session=<x>, ") == {"user": "", "rip": "1.2.3.4",
                                                                               "session": "x"}


def test_forward_fields_unescape_tabs_and_newlines() -> None:
    assert parse_forward_fields("a=1\x01t\x01tb=x\x01ny") == {"a": "1", "b": "x\ny"}


XCLIENT_LMTP_23 = ("Nov 25 14:55:27 lmtp(17): Debug: lmtp-server: conn 10.250.3.10:53182 [1]: Received new command: "
                   "XCLIENT HELO=orig.example PROTO=LMTP SESSION=lmtpsess:P1 TTL=4 PORT=4003 ADDR=203.0.113.9")
XCLIENT_SUBMISSION_24 = (
    "Nov 25 14:55:40 submission-login: Debug: smtp-server: conn 10.250.4.10:44330 [1]: Received new command: "
    "XCLIENT HELO=orig.example PROTO=ESMTP TTL=4 PORT=4002 ADDR=203.0.113.8 SESSION=smtpsess "
    "CLIENT-TRANSPORT=insecure FORWARD=dGVuYW50PWFjbWU+3D: user=<>, rip=10.250.4.10, rport=44330, lip=10.250.4.11")
USER_IN_24 = ("Nov 25 14:55:40 auth: Debug: master in: USER\t1\talice@example.test\tprotocol=lmtp\tlip=10.250.4.11\t"
              "lport=24\trip=203.0.113.9\trport=4003\tforward_fields=tenant=acme")
DELIVERY = "Nov 25 14:55:40 lmtp(alice@example.test)<16><lmtpsess:P1>: Info: msgid=unspecified: saved mail to INBOX"
POP3_LOGIN_23 = ("pop3-login: Info: Login: user=<alice>, method=PLAIN, rip=203.0.113.7, rport=51234, "
                 "lip=10.250.3.11, lport=110, session=<pop3sess>")


def test_xclient_received_by_lmtp_and_submission() -> None:
    (lmtp,) = events_from_log(XCLIENT_LMTP_23)
    assert lmtp.kind == "xclient"
    assert lmtp.fields == {"HELO": "orig.example", "PROTO": "LMTP", "SESSION": "lmtpsess:P1", "TTL": "4",
                           "PORT": "4003", "ADDR": "203.0.113.9", "service": "lmtp"}
    (submission,) = events_from_log(XCLIENT_SUBMISSION_24)
    assert submission.fields["FORWARD"] == "dGVuYW50PWFjbWU="  # xtext decoded, the 2.4 login suffix cut
    assert submission.fields["CLIENT-TRANSPORT"] == "insecure" and submission.fields["service"] == "submission"


def test_lmtp_userdb_request_and_delivery() -> None:
    auth, forward = events_from_log(USER_IN_24)
    assert auth.kind == "auth" and auth.fields["user"] == "alice@example.test"
    assert auth.fields["service"] == "lmtp" and auth.fields["rip"] == "203.0.113.9"
    assert forward.fields == {"tenant": "acme"}
    (delivery,) = events_from_log(DELIVERY)
    assert delivery.fields == {"user": "alice@example.test", "session": "lmtpsess:P1", "mailbox": "INBOX"}


def test_service_of_login_lines() -> None:
    (event,) = events_from_log(POP3_LOGIN_23)
    assert event.fields["service"] == "pop3" and event.fields["lport"] == "110"


def test_drop_lines_ttl_and_self_loop() -> None:
    ttl = ("imap-login: Error: proxy(loop,10.231.7.21:143): Aborting due to remote server: TTL reached zero - proxies "
           "appear to be looping?: user=<loop>, method=PLAIN, rip=203.0.113.7, rport=59376, lip=198.51.100.1, "
           "lport=143, session=<loopx5>, tenant=<>, secured")
    (event,) = events_from_log(ttl)
    assert event.kind == "drop" and event.fields["reason"] == "ttl" and event.fields["session"] == "loopx5"
    assert event.fields["user"] == "loop" and event.fields["dest"] == "10.231.7.21:143"
    assert event.fields["service"] == "imap"
    loop = ("imap-login: Error: proxy(loop): Proxying loops to itself: user=<loop>, method=PLAIN, rip=203.0.113.7, "
            "rport=51234, lip=10.231.7.20, lport=143, session=<loop5>, secured")
    (event,) = events_from_log(loop)
    assert event.fields["reason"] == "self-loop" and event.fields["session"] == "loop5" and "dest" not in event.fields
    lmtp = ("lmtp(25): Error: lmtp-server: conn 203.0.113.7:38606 [10]: rcpt cap@example.test: Proxying to "
            "<cap@example.test> appears to be looping (TTL=0)")
    (event,) = events_from_log(lmtp)
    assert event.fields == {"service": "lmtp", "user": "cap@example.test", "reason": "ttl"}


# login_log_format_elements carries the socket peer as real_rip (2.3 %{real_rip}, 2.4 %{real_remote_ip}): the
# previous hop on 2.3 and 2.4.5, the node's own address on 2.4.1 (%{real_remote_ip} expands to the local one).
LOGIN_REAL_23 = ("imap-login: Info: Login: user=<alice>, method=PLAIN, rip=203.0.113.7, rport=51234, lip=10.250.1.20, "
                 "lport=143, real_rip=10.250.1.20, session=<abc123>, fwd_tenant=<acme>, secured")
LOGIN_REAL_241 = ("pop3-login: Info: Logged in: user=<alice>, method=PLAIN, rip=203.0.113.7, rport=51234, "
                  "lip=10.250.1.30, lport=110, real_rip=10.250.1.30, session=<pop3sess>, fwd_tenant=<acme>")
PROXIED_REAL_245 = ("submission-login: Info: proxy(alice,10.250.1.30:587): Started proxying to remote host "
                    "(0.004 secs): user=<alice>, method=PLAIN, rip=203.0.113.8, rport=4002, lip=10.250.1.20, "
                    "lport=587, real_rip=10.250.1.10, session=<front-sub-0001>, fwd_tenant=<acme>")
DROP_REAL_24 = ("imap-login: Error: proxy(alice,10.250.1.40:143): Aborting due to remote server: TTL reached zero - "
                "proxies appear to be looping?: user=<alice>, method=PLAIN, rip=203.0.113.7, rport=40000, "
                "lip=10.250.1.20, lport=143, real_rip=10.250.1.20, session=<ttl1>")


def test_real_rip_is_a_field_of_login_proxied_and_drop_lines() -> None:
    (login_23,) = events_from_log(LOGIN_REAL_23)
    assert login_23.kind == "login" and login_23.fields["real_rip"] == "10.250.1.20"
    assert login_23.fields["rip"] == "203.0.113.7" and login_23.fields["session"] == "abc123"
    (login_24,) = events_from_log(LOGIN_REAL_241)
    assert login_24.fields == {"user": "alice", "method": "PLAIN", "rip": "203.0.113.7", "rport": "51234",
                               "lip": "10.250.1.30", "lport": "110", "real_rip": "10.250.1.30",
                               "session": "pop3sess", "fwd_tenant": "acme", "service": "pop3"}
    (proxied,) = events_from_log(PROXIED_REAL_245)
    assert proxied.kind == "proxied" and proxied.fields["real_rip"] == "10.250.1.10"
    assert proxied.fields["service"] == "submission" and proxied.fields["result"] == "started"
    (drop,) = events_from_log(DROP_REAL_24)
    assert drop.kind == "drop" and drop.fields["real_rip"] == "10.250.1.20" and drop.fields["reason"] == "ttl"


def test_real_rip_is_an_expectation_field_of_the_login_events() -> None:
    from harness.kinds.dovecot.kind import FIELDS

    assert all("real_rip" in FIELDS[category] for category in ("login", "proxied", "drop"))


def test_the_templates_log_real_rip_in_each_version_s_syntax() -> None:
    from harness.kinds.dovecot.kind import TEMPLATES

    assert "real_rip=%{real_rip}" in (TEMPLATES / "2.3" / "base.conf").read_text()
    assert "real_rip=%{real_remote_ip}" in (TEMPLATES / "2.4" / "base.conf").read_text()
