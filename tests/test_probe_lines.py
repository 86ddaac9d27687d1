"""The readiness probe is the harness's own traffic: the lines a server logs about it are not observations."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.provision.probe import without_probe_lines

PROBE_24 = ("Dec 02 03:00:01 imap-login: Info: Login aborted: Connection closed (no auth attempts in 0 secs) "
            "(no_auth_attempts): user=<>, rip=10.151.242.1, rport=39594, lip=10.151.242.10, lport=143, "
            "real_rip=10.151.242.10, session=<RlNL2RphqpoKl/IB>\n")
PROBE_23 = ("Dec 02 03:00:01 imap-login: Info: Disconnected (no auth attempts in 0 secs): user=<>, "
            "rip=10.151.242.1, rport=39594, lip=10.151.242.10, session=<RlNL2RphqpoKl/IB>\n")
CLIENT = ("Dec 02 03:00:02 imap-login: Info: Login: user=<alice>, method=PLAIN, rip=10.151.242.1, rport=39596, "
          "lip=10.151.242.10, lport=143, session=<x1>\n")
PROBE = ("10.151.242.1", 39594)


def test_the_probes_lines_go_and_the_clients_stay() -> None:
    assert without_probe_lines(PROBE_24 + CLIENT + PROBE_23, [PROBE]) == CLIENT


def test_a_port_that_only_begins_like_the_probes_stays() -> None:
    line = CLIENT.replace("rport=39596", "rport=395941")
    assert without_probe_lines(line, [PROBE]) == line
    assert without_probe_lines(line.replace("10.151.242.1,", "110.151.242.1,"), [("10.151.242.1", 395941)]) \
        == line.replace("10.151.242.1,", "110.151.242.1,")


def test_address_colon_port_and_bracketed_ipv6() -> None:
    log = "conn 10.1.2.1:4000 [1]: closed\nconn [fd6d::1]:4000: closed\nconn 10.1.2.1:4001: kept\n"
    assert without_probe_lines(log, [("10.1.2.1", 4000), ("fd6d::1", 4000)]) == "conn 10.1.2.1:4001: kept\n"


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                        max_size=60), max_size=8))
def test_no_probes_leave_any_log_whole(lines: list[str]) -> None:
    log = "".join(line + "\n" for line in lines)
    assert without_probe_lines(log, []) == log
    assert without_probe_lines(log, [("192.0.2.77", 65001)]) == log or "192.0.2.77" in log
