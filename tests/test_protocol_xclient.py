"""harness.protocol.xtext / xclient / smtp / pop3: codecs for XCLIENT and forward fields."""

from __future__ import annotations

import contextlib
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.protocol.pop3 import format_multiline, greeting_offers_xclient, is_ok, xoip_as_xclient
from harness.protocol.smtp import (
    Line,
    LineFramer,
    LineTooLongError,
    RcptParamAdder,
    ReplyLine,
    SmtpParseError,
    add_rcpt_param,
    decode_sasl_plain,
    format_reply,
    parse_command,
    parse_ehlo_reply,
    parse_path_args,
    parse_reply_line,
    reply_code,
    unstuff,
)
from harness.protocol.xclient import (
    DOVECOT23_LMTP_ADVERTISED,
    DOVECOT23_SUBMISSION_ADVERTISED,
    DOVECOT24_LMTP_ADVERTISED,
    DOVECOT24_SUBMISSION_ADVERTISED,
    POP3,
    POSTFIX_ADVERTISED,
    POSTFIX_MAX_VALUE_LENGTH,
    SMTP,
    ForwardError,
    XclientCommand,
    XclientError,
    decode_forward,
    decode_rcpt_forward,
    encode_forward,
    encode_rcpt_forward,
    flavour_for,
    format_address,
    format_xclient,
    is_unavailable,
    join_forward,
    parse_address,
    parse_xclient,
    split_forward,
    split_xclient,
    tab_escape,
    tab_unescape,
)
from harness.protocol.xtext import XtextError, is_xchar, xtext_decode, xtext_encode

# Verbatim from observed-xclient.md / observed-findings.md (E5-E8).
POP3_D23 = "XCLIENT ADDR=203.0.113.7 PORT=51234 SESSION=abc123 TTL=4 FORWARD=dGVuYW50PWFjbWU="
POP3_D24 = "XCLIENT ADDR=203.0.113.7 PORT=51234 SESSION=abc123 TTL=4 CLIENT-TRANSPORT=insecure FORWARD=dGVuYW50PWFjbWU="
POP3_D24_NO_CLIENT_XCLIENT = (
    "XCLIENT ADDR=10.231.7.10 PORT=38164 SESSION=yrgFZQ5hFJUK5wcK TTL=6 CLIENT-TRANSPORT=insecure"
)
SUBMISSION_D23 = (
    "XCLIENT HELO=orig.example PROTO=ESMTP TTL=4 PORT=51234 ADDR=203.0.113.7 SESSION=abc123 FORWARD=dGVuYW50PWFjbWU+3D"
)
SUBMISSION_D24 = (
    "XCLIENT HELO=orig.example PROTO=ESMTP TTL=4 PORT=51234 ADDR=203.0.113.7 SESSION=abc123 "
    "CLIENT-TRANSPORT=insecure FORWARD=dGVuYW50PWFjbWU+3D"
)
SUBMISSION_NOAUTH = (
    "XCLIENT HELO=orig.example PROTO=ESMTP LOGIN=noauth TTL=4 PORT=51234 ADDR=203.0.113.7 SESSION=abc123 "
    "FORWARD=dGVuYW50PWFjbWU+3D"
)
SUBMISSION_TO_POSTFIX = "XCLIENT HELO=orig.example PROTO=ESMTP PORT=51234 ADDR=203.0.113.7"
RELAY_D24_IPV6 = "XCLIENT HELO=orig.example PROTO=ESMTP LOGIN=alice PORT=51234 ADDR=IPV6:2001:db8::7"
LMTP_D23 = "XCLIENT HELO=orig.example PROTO=LMTP SESSION=abc123:P1 TTL=4 PORT=51234 ADDR=203.0.113.7"
LMTP_D24 = (
    "XCLIENT HELO=orig.example PROTO=LMTP SESSION=abc123:P1 CLIENT-TRANSPORT=insecure TTL=4 PORT=51234 ADDR=203.0.113.7"
)
POSTFIX_CLIENT = "XCLIENT NAME=orig.example ADDR=203.0.113.9 PORT=4003 HELO=orig-helo.example LOGIN=alice PROTO=ESMTP"
NGINX = "XCLIENT ADDR=IPV6:2001:db8::7 LOGIN=alice NAME=[UNAVAILABLE]"

ANY_TEXT = st.text(st.one_of(st.characters(), st.characters(categories=["Cs"])))
"""Any str, lone surrogates included (text that did not come off the wire)."""
NO_BREAKS = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n\x00"))
NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,15}", fullmatch=True)
FORWARD_KEYS = st.text(min_size=1).filter(lambda key: "=" not in key)
FORWARD_FIELDS = st.lists(st.tuples(FORWARD_KEYS, st.text()), max_size=6)


# --- xtext ---------------------------------------------------------------------------------


def test_xtext_encodes_plus_equals_space_and_non_ascii() -> None:
    assert xtext_encode("dGVuYW50PWFjbWU=") == "dGVuYW50PWFjbWU+3D"
    assert xtext_encode("a+b c") == "a+2Bb+20c"
    assert xtext_encode("tenant=acme") == "tenant+3Dacme"
    assert xtext_encode("é\t") == "+C3+A9+09"
    assert xtext_encode("") == ""


def test_xtext_decode_examples() -> None:
    assert xtext_decode("dGVuYW50PWFjbWU+3D") == "dGVuYW50PWFjbWU="
    assert xtext_decode("+C3+A9") == "é"
    assert xtext_decode("a+2b", allow_lowercase=True) == "a+"


@pytest.mark.parametrize("bad", ["a+", "a+3", "a+3G", "+2b", "a=b", "a b", "é", "a\tb", "+ 3D"])
def test_xtext_decode_rejects_malformed(bad: str) -> None:
    with pytest.raises(XtextError):
        xtext_decode(bad)


def test_xtext_error_is_a_value_error() -> None:
    assert issubclass(XtextError, ValueError)
    for call in (xtext_encode, xtext_decode):
        with pytest.raises(XtextError):
            call("\ud800")  # a lone surrogate has no bytes


@given(st.text())
def test_xtext_round_trip(text: str) -> None:
    encoded = xtext_encode(text)
    assert xtext_decode(encoded) == text
    assert all(is_xchar(ord(char)) or char == "+" for char in encoded)


@given(ANY_TEXT)
def test_xtext_decode_fails_only_with_xtext_error(text: str) -> None:
    with contextlib.suppress(XtextError):
        xtext_decode(text, allow_lowercase=True)


# --- tab escaping ----------------------------------------------------------------------------


def test_tab_escape_mapping_matches_strescape_c() -> None:
    assert tab_escape("a\x01b\tc\rd\ne\x00") == "a\x011b\x01tc\x01rd\x01ne\x010"
    assert tab_unescape("a\x011b\x01tc\x01rd\x01ne\x010") == "a\x01b\tc\rd\ne\x00"


def test_tab_unescape_is_as_lenient_as_dovecot() -> None:
    assert tab_unescape("a\x01xb") == "axb"  # unknown escape: the character itself
    assert tab_unescape("ab\x01") == "ab"  # a truncated escape is dropped


@given(st.text())
def test_tab_escape_round_trip_and_leaves_no_separators(text: str) -> None:
    escaped = tab_escape(text)
    assert tab_unescape(escaped) == text
    assert not {"\t", "\r", "\n"} & set(escaped)


# --- forward fields ------------------------------------------------------------------------------


def test_forward_encodings_per_protocol_match_the_wire() -> None:
    fields = [("tenant", "acme")]
    assert encode_forward(fields) == "dGVuYW50PWFjbWU="  # POP3 FORWARD=
    assert xtext_encode(encode_forward(fields)) == "dGVuYW50PWFjbWU+3D"  # submission FORWARD=
    assert encode_rcpt_forward(fields) == "tenant+3Dacme"  # LMTP XRCPTFORWARD=
    assert decode_forward("dGVuYW50PWFjbWU=") == fields
    assert decode_rcpt_forward("tenant+3Dacme") == fields


def test_forward_several_fields_are_tab_joined_and_escaped() -> None:
    fields = [("tenant", "acme"), ("note", "a\tb=c")]
    assert join_forward(fields) == "tenant=acme\tnote=a\x01tb=c"
    assert split_forward("tenant=acme\tnote=a\x01tb=c") == fields
    assert decode_forward(encode_forward(fields)) == fields


def test_xtext_of_base64_sent_as_xrcptforward_is_one_key_with_empty_value() -> None:
    # E6: Dovecot reads LMTP XRCPTFORWARD=dGVuYW50PWFjbWU+3D as key "dGVuYW50PWFjbWU", value "".
    assert decode_rcpt_forward("dGVuYW50PWFjbWU+3D") == [("dGVuYW50PWFjbWU", "")]


def test_empty_forward() -> None:
    assert encode_forward([]) == ""
    assert decode_forward("") == []


@pytest.mark.parametrize("bad", ["dGVuYW50PWFjbWU", "not base64!", "dGVu\nYW50", "é==="])
def test_decode_forward_rejects_bad_base64(bad: str) -> None:
    with pytest.raises(ForwardError, match="base64"):
        decode_forward(bad)


@pytest.mark.parametrize("payload", ["noequals", "=v", "k=v\tnoequals"])
def test_split_forward_rejects_items_without_key(payload: str) -> None:
    with pytest.raises(ForwardError):
        split_forward(payload)


def test_decode_rcpt_forward_rejects_bad_xtext() -> None:
    with pytest.raises(ForwardError, match="XRCPTFORWARD"):
        decode_rcpt_forward("tenant=acme")


@pytest.mark.parametrize("key", ["", "a=b"])
def test_join_forward_rejects_keys_it_cannot_carry(key: str) -> None:
    with pytest.raises(ForwardError):
        join_forward([(key, "v")])


def test_encode_forward_rejects_text_without_bytes() -> None:
    with pytest.raises(ForwardError):
        encode_forward([("k", "\ud800")])


@given(FORWARD_FIELDS)
def test_forward_round_trips(fields: list[tuple[str, str]]) -> None:
    assert decode_forward(encode_forward(fields)) == fields
    assert decode_rcpt_forward(encode_rcpt_forward(fields)) == fields
    assert split_forward(join_forward(fields)) == fields


@given(FORWARD_FIELDS)
def test_forward_survives_the_smtp_flavour(fields: list[tuple[str, str]]) -> None:
    line = format_xclient([("FORWARD", encode_forward(fields))], SMTP)
    assert parse_xclient(line, SMTP).forward == fields
    assert parse_xclient(format_xclient([("FORWARD", encode_forward(fields))], POP3), POP3).forward == fields


# --- addresses -------------------------------------------------------------------------------------


def test_parse_address_prefix_rules() -> None:
    v6 = ipaddress.ip_address("2001:db8::1")
    assert parse_address("IPV6:2001:db8::1", ipv6_prefix="required") == v6
    assert parse_address("ipv6:2001:DB8:0::1", ipv6_prefix="required") == v6  # Postfix accepts any case
    assert parse_address("2001:db8::1") == v6  # Dovecot SMTP/LMTP: bare is fine
    assert parse_address("2001:db8::1", ipv6_prefix="forbidden") == v6  # POP3 sends bare
    assert parse_address("203.0.113.7", ipv6_prefix="required") == ipaddress.ip_address("203.0.113.7")


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("2001:db8::1", "required"),  # Postfix: "501 5.5.4 Bad ADDR syntax: 2001:db8::1"
        ("IPV6:2001:db8::1", "forbidden"),  # Dovecot pop3-login uses net_addr2ip only
        ("IPV6:203.0.113.7", "optional"),  # Dovecot: the prefix needs an IPv6 address
        ("203.0.113.256", "optional"),
        ("", "optional"),
        ("host.example", "optional"),
    ],
)
def test_parse_address_rejects(value: str, rule: str) -> None:
    with pytest.raises(XclientError):
        parse_address(value, ipv6_prefix=rule)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["[UNAVAILABLE]", "[unavailable]", "[TEMPUNAVAIL]"])
def test_unavailable_addresses_are_none(value: str) -> None:
    assert is_unavailable(value)
    assert parse_address(value, ipv6_prefix="required") is None


def test_format_address() -> None:
    assert format_address("2001:DB8:0::7", ipv6_prefix=True) == "IPV6:2001:db8::7"
    assert format_address("2001:db8::7", ipv6_prefix=False) == "2001:db8::7"
    assert format_address("203.0.113.7", ipv6_prefix=True) == "203.0.113.7"


@given(st.ip_addresses())
def test_address_round_trip(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert parse_address(format_address(address, ipv6_prefix=True), ipv6_prefix="required") == address
    assert parse_address(format_address(address, ipv6_prefix=False), ipv6_prefix="forbidden") == address


# --- XCLIENT: real lines ------------------------------------------------------------------------------


def test_pop3_dovecot_23_line() -> None:
    command = parse_xclient(POP3_D23, POP3)
    assert command.attributes == (
        ("ADDR", "203.0.113.7"),
        ("PORT", "51234"),
        ("SESSION", "abc123"),
        ("TTL", "4"),
        ("FORWARD", "dGVuYW50PWFjbWU="),
    )
    assert command.addr == ipaddress.ip_address("203.0.113.7")
    assert (command.port, command.ttl, command.forward) == (51234, 4, [("tenant", "acme")])
    assert command.unknown(POP3) == ()
    assert format_xclient(command.attributes, POP3) == POP3_D23


@pytest.mark.parametrize("line", [POP3_D24, POP3_D24_NO_CLIENT_XCLIENT, "XCLIENT ADDR=2001:db8::7 PORT=51234"])
def test_pop3_lines_round_trip(line: str) -> None:
    command = parse_xclient(line, POP3)
    assert command.format(POP3) == line
    assert command.unknown(POP3) == ()


def test_pop3_dovecot_24_client_transport_and_ipv6() -> None:
    assert parse_xclient(POP3_D24, POP3).get("client-transport") == "insecure"
    assert parse_xclient("XCLIENT ADDR=2001:db8::7", POP3).addr == ipaddress.ip_address("2001:db8::7")


def test_pop3_flavour_takes_base64_raw_and_smtp_flavour_refuses_it() -> None:
    # observed-xclient.md: 2.3 submission refused FORWARD=dGVuYW50PWFjbWU= (raw '=').
    assert parse_xclient("XCLIENT FORWARD=dGVuYW50PWFjbWU=", POP3).forward == [("tenant", "acme")]
    with pytest.raises(XclientError, match="FORWARD"):
        parse_xclient("XCLIENT FORWARD=dGVuYW50PWFjbWU=", SMTP)


@pytest.mark.parametrize(
    "line", [SUBMISSION_D23, SUBMISSION_D24, SUBMISSION_NOAUTH, SUBMISSION_TO_POSTFIX, LMTP_D23, LMTP_D24]
)
def test_smtp_lines_round_trip(line: str) -> None:
    command = parse_xclient(line, SMTP)
    assert command.format(SMTP) == line
    assert command.unknown(SMTP) == ()


def test_submission_forward_is_xtext_then_base64() -> None:
    command = parse_xclient(SUBMISSION_D24, SMTP)
    assert command.get("FORWARD") == "dGVuYW50PWFjbWU="
    assert command.forward == [("tenant", "acme")]
    assert command.names() == ("HELO", "PROTO", "TTL", "PORT", "ADDR", "SESSION", "CLIENT-TRANSPORT", "FORWARD")


def test_submission_format_from_decoded_values() -> None:
    attributes = [
        ("HELO", "orig.example"),
        ("PROTO", "ESMTP"),
        ("TTL", "4"),
        ("PORT", "51234"),
        ("ADDR", "203.0.113.7"),
        ("SESSION", "abc123"),
        ("FORWARD", encode_forward([("tenant", "acme")])),
    ]
    assert format_xclient(attributes, SMTP) == SUBMISSION_D23


def test_lmtp_session_suffix_and_ttl() -> None:
    command = parse_xclient(LMTP_D23, SMTP)
    assert command.get("SESSION") == "abc123:P1"
    assert command.ttl == 4
    assert command.forward is None


def test_ipv6_prefix_in_smtp_addr() -> None:
    command = parse_xclient(RELAY_D24_IPV6, SMTP)
    assert command.get("ADDR") == "IPV6:2001:db8::7"
    assert command.addr == ipaddress.ip_address("2001:db8::7")


def test_postfix_and_nginx_lines() -> None:
    postfix = parse_xclient(POSTFIX_CLIENT, SMTP, max_value_length=POSTFIX_MAX_VALUE_LENGTH)
    assert postfix.get("NAME") == "orig.example"
    assert postfix.get("login") == "alice"
    nginx = parse_xclient(NGINX, SMTP)
    assert nginx.get("NAME") == "[UNAVAILABLE]"
    assert nginx.addr == ipaddress.ip_address("2001:db8::7")


def test_unavailable_values_give_none() -> None:
    command = parse_xclient("XCLIENT ADDR=[UNAVAILABLE] PORT=[UNAVAILABLE] TTL=[TEMPUNAVAIL]", SMTP)
    assert (command.addr, command.port, command.ttl) == (None, None, None)


def test_unknown_attributes_are_kept() -> None:
    command = parse_xclient("XCLIENT ADDR=203.0.113.7 X-FOO=bar HELO=h", SMTP)
    assert command.names() == ("ADDR", "X-FOO", "HELO")
    assert command.unknown(SMTP) == ("X-FOO",)
    assert parse_xclient("XCLIENT HELO=h ADDR=203.0.113.7", POP3).unknown(POP3) == ("HELO",)


def test_names_are_upper_cased_and_the_raw_split_keeps_them() -> None:
    line = "xclient addr=203.0.113.7  Port=1"
    assert split_xclient(line) == [("addr", "203.0.113.7"), ("Port", "1")]
    command = parse_xclient(line, POP3)
    assert command.attributes == (("ADDR", "203.0.113.7"), ("PORT", "1"))
    assert XclientCommand((("ttl", "3"),)).attributes == (("TTL", "3"),)


def test_repeated_attribute_last_one_wins() -> None:
    command = parse_xclient("XCLIENT TTL=3 TTL=2", SMTP)
    assert command.ttl == 2
    assert command.names() == ("TTL", "TTL")


# --- XCLIENT: malformed input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("XCLIENT", "without attributes"),
        ("XCLIENT  ", "without attributes"),
        ("XCLIENT ADDR", "attribute=value"),
        ("XCLIENT =1.2.3.4", "attribute=value"),
        ("XCLIENT ADDR=1.2.3.4 PORT", "attribute=value"),
        ("XCLIENTX ADDR=1.2.3.4", "not an XCLIENT"),
        ("EHLO x", "not an XCLIENT"),
        ("XCLIENT ADDR=1.2.3.4\r\n", "CR"),
        ("XCLIENT ADDR=1.2.3.4\nPORT=1", "LF"),
        ("XCLIENT LOGIN=a\x00b", "NUL"),
    ],
)
@pytest.mark.parametrize("flavour", [POP3, SMTP])
def test_parse_rejects(line: str, message: str, flavour: str) -> None:
    with pytest.raises(XclientError, match=message):
        parse_xclient(line, flavour)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["a+0Db", "a+0A", "+00", "a+4", "a=b", "a+3d"])
def test_parse_smtp_rejects_bad_or_line_breaking_xtext(value: str) -> None:
    with pytest.raises(XclientError, match="LOGIN"):
        parse_xclient(f"XCLIENT LOGIN={value}", SMTP)


def test_postfix_value_length_limit() -> None:
    name = "a" * 255
    assert parse_xclient(f"XCLIENT NAME={name}", SMTP, max_value_length=POSTFIX_MAX_VALUE_LENGTH).get("NAME") == name
    with pytest.raises(XclientError, match="too long"):
        parse_xclient(f"XCLIENT NAME={name}a", SMTP, max_value_length=POSTFIX_MAX_VALUE_LENGTH)
    # The limit applies to the encoded value, as Postfix checks before decoding.
    with pytest.raises(XclientError, match="too long"):
        format_xclient([("LOGIN", "=" * 100)], SMTP, max_value_length=POSTFIX_MAX_VALUE_LENGTH)
    assert parse_xclient(f"XCLIENT NAME={name}a", SMTP).get("NAME") == name + "a"


def test_typed_accessors_reject_bad_values() -> None:
    command = parse_xclient("XCLIENT PORT=65536 TTL=-1 ADDR=nope FORWARD=%%%", POP3)
    for accessor in ("port", "ttl", "addr", "forward"):
        with pytest.raises(ValueError):
            getattr(command, accessor)


@pytest.mark.parametrize(
    ("attributes", "flavour", "message"),
    [
        ([], SMTP, "at least one"),
        ([("ADDR", "a b")], POP3, "SP"),
        ([("SESSION", "a\rb")], SMTP, "CR"),
        ([("SESSION", "a\nb")], POP3, "LF"),
        ([("A B", "x")], SMTP, "name"),
        ([("A=B", "x")], SMTP, "name"),
        ([("", "x")], POP3, "name"),
        ([("A", "\ud800")], POP3, "encoded"),
        ([("A", "\ud800")], SMTP, "encoded"),
    ],
)
def test_format_rejects(attributes: list[tuple[str, str]], flavour: str, message: str) -> None:
    with pytest.raises(XclientError, match=message):
        format_xclient(attributes, flavour)  # type: ignore[arg-type]


def test_flavour_for_protocol() -> None:
    assert [flavour_for(p) for p in ("pop3", "submission", "lmtp")] == [POP3, SMTP, SMTP]


# --- XCLIENT: properties -------------------------------------------------------------------------------------


@given(st.lists(st.tuples(NAMES, NO_BREAKS), min_size=1, max_size=8))
def test_smtp_format_parse_round_trip(attributes: list[tuple[str, str]]) -> None:
    line = format_xclient(attributes, SMTP)
    assert "\r" not in line and "\n" not in line
    assert parse_xclient(line, SMTP) == XclientCommand(tuple(attributes))
    assert [name for name, _ in split_xclient(line)] == [name.upper() for name, _ in attributes]


POP3_VALUES = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n\x00 "))


@given(st.lists(st.tuples(NAMES, POP3_VALUES), min_size=1, max_size=8))
def test_pop3_format_parse_round_trip(attributes: list[tuple[str, str]]) -> None:
    assert parse_xclient(format_xclient(attributes, POP3), POP3) == XclientCommand(tuple(attributes))


@given(st.lists(st.tuples(NAMES, NO_BREAKS), min_size=1, max_size=4), st.sampled_from(["\r", "\n"]), st.data())
def test_a_line_break_anywhere_is_rejected(attributes: list[tuple[str, str]], brk: str, data: st.DataObject) -> None:
    line = format_xclient(attributes, SMTP)
    at = data.draw(st.integers(0, len(line)))
    for flavour in (POP3, SMTP):
        with pytest.raises(XclientError):
            parse_xclient(line[:at] + brk + line[at:], flavour)


@given(NAMES, NO_BREAKS, st.sampled_from(["\r", "\n"]), st.data())
def test_a_value_with_a_line_break_cannot_be_formatted(name: str, value: str, brk: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(value)))
    for flavour in (POP3, SMTP):
        with pytest.raises(XclientError):
            format_xclient([(name, value[:at] + brk + value[at:])], flavour)


@given(ANY_TEXT)
def test_parse_fails_only_with_xclient_error(line: str) -> None:
    for flavour in (POP3, SMTP):
        with contextlib.suppress(XclientError):
            parse_xclient("XCLIENT " + line, flavour)


# Verbatim EHLO/LHLO XCLIENT lines (E6).
D23_SUBMISSION = "ADDR PORT PROTO HELO LOGIN SESSION TTL TIMEOUT FORWARD"
D24_SUBMISSION = "ADDR PORT PROTO HELO LOGIN SESSION CLIENT-TRANSPORT TTL TIMEOUT DESTNAME FORWARD"
D23_LMTP = "ADDR PORT PROTO HELO LOGIN SESSION TTL TIMEOUT"
D24_LMTP = "ADDR PORT PROTO HELO LOGIN SESSION CLIENT-TRANSPORT TTL TIMEOUT DESTNAME"


# --- EHLO / LHLO capabilities --------------------------------------------------------------------------


def test_ehlo_from_postfix() -> None:
    reply = parse_ehlo_reply(
        [
            "250-postfix.test",
            "250-PIPELINING",
            "250-XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT",
            "250 8BITMIME",
        ]
    )
    assert reply.greeting == "postfix.test"
    assert reply.xclient == POSTFIX_ADVERTISED
    assert not reply.xrcptforward
    assert reply.has("pipelining")


@pytest.mark.parametrize(
    ("last_lines", "advertised", "xrcptforward"),
    [
        ([f"250 XCLIENT {D23_SUBMISSION}"], DOVECOT23_SUBMISSION_ADVERTISED, False),
        ([f"250 XCLIENT {D24_SUBMISSION}"], DOVECOT24_SUBMISSION_ADVERTISED, False),
        ([f"250-XCLIENT {D23_LMTP}", "250 XRCPTFORWARD"], DOVECOT23_LMTP_ADVERTISED, True),
        ([f"250-XCLIENT {D24_LMTP}", "250 XRCPTFORWARD"], DOVECOT24_LMTP_ADVERTISED, True),
    ],
)
def test_ehlo_from_dovecot(last_lines: list[str], advertised: tuple[str, ...], xrcptforward: bool) -> None:
    reply = parse_ehlo_reply(["250-proxy.test", "250-8BITMIME", *last_lines])
    assert reply.xclient == advertised
    assert reply.xrcptforward is xrcptforward


def test_ehlo_without_xclient_and_case() -> None:
    assert parse_ehlo_reply(["250 host"]).xclient is None
    assert parse_ehlo_reply(["250-host", "250 xclient addr"]).xclient == ("ADDR",)


@pytest.mark.parametrize(
    "lines", [[], ["500 5.5.1 nope"], ["250 host", "250 PIPELINING"], ["250-host", "250-PIPELINING"], ["hello"]]
)
def test_ehlo_rejects_malformed_replies(lines: list[str]) -> None:
    with pytest.raises(SmtpParseError):
        parse_ehlo_reply(lines)


# --- SMTP odds and ends ----------------------------------------------------------------------------------


def test_reply_lines() -> None:
    assert parse_reply_line("250-capture.test") == ReplyLine(250, False, "capture.test")
    assert parse_reply_line("220 postfix.test ESMTP Postfix") == ReplyLine(220, True, "postfix.test ESMTP Postfix")
    assert parse_reply_line("354") == ReplyLine(354, True, "")
    assert format_reply(250, ["a", "b", "c"]) == ["250-a", "250-b", "250 c"]
    assert format_reply(334, [""]) == ["334 "]
    assert reply_code(["250-a", "550 5.7.0 Error: insufficient authorization"]) == 550
    for bad in ["25", "2500 x", "650 x", "abc"]:
        with pytest.raises(SmtpParseError):
            parse_reply_line(bad)


def test_commands_and_paths() -> None:
    command = parse_command("rcpt TO:<cap@example.test> XRCPTFORWARD=tenant+3Dacme NOTIFY=NEVER")
    assert command.name == "RCPT"
    path = parse_path_args(command.args, "TO:")
    assert path.path == "<cap@example.test>"
    assert path.params == (("XRCPTFORWARD", "tenant+3Dacme"), ("NOTIFY", "NEVER"))
    assert path.param("xrcptforward") == "tenant+3Dacme"
    quoted = parse_path_args('TO: <"a >b"@x> SMTPUTF8', "TO:")
    assert (quoted.path, quoted.params) == ('<"a >b"@x>', (("SMTPUTF8", None),))
    assert parse_path_args("FROM:<>", "FROM:").path == "<>"
    for bad in ["FROM:<a@b>", "TO:<a@b", "TO:<a@b> =x"]:
        with pytest.raises(SmtpParseError):
            parse_path_args(bad, "TO:")
    with pytest.raises(SmtpParseError):
        parse_command(" leading")


def test_sasl_plain_and_unstuff() -> None:
    assert decode_sasl_plain("AGFsaWNlAHNlY3JldA==") == ("", "alice", "secret")
    assert decode_sasl_plain("Y2FwAGNhcABzZWNyZXQ=") == ("cap", "cap", "secret")
    for bad in ["YWxpY2U=", "!!"]:
        with pytest.raises(SmtpParseError):
            decode_sasl_plain(bad)
    assert unstuff("..x") == ".x"
    assert unstuff("x") == "x"


def test_line_framer_marks_pipelined_lines_and_keeps_partials() -> None:
    framer = LineFramer()
    assert framer.feed(b"XCLIENT A=1\r\nUSER cap\r\nPA") == [
        Line("XCLIENT A=1", b"XCLIENT A=1\r\n", True),
        Line("USER cap", b"USER cap\r\n", True),
    ]
    assert framer.feed(b"SS x\n") == [Line("PASS x", b"PASS x\n", False)]
    assert framer.feed(b"tail") == []
    assert framer.take_buffer() == b"tail"


def test_line_framer_limit() -> None:
    framer = LineFramer(max_line_bytes=8)
    with pytest.raises(LineTooLongError):
        framer.feed(b"123456789")
    with pytest.raises(LineTooLongError):
        LineFramer(max_line_bytes=8).feed(b"12345678\r\n")


@given(st.lists(st.binary(max_size=20).filter(lambda part: b"\n" not in part), max_size=10), st.data())
def test_line_framer_is_independent_of_chunking(parts: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(part + b"\r\n" for part in parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=5)))
    framer = LineFramer()
    lines = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        lines += framer.feed(stream[start:end])
    assert [line.raw for line in lines] == [part + b"\r\n" for part in parts]


# --- RCPT rewriting (LMTP inject) ------------------------------------------------------------------------


def test_add_rcpt_param() -> None:
    assert add_rcpt_param("RCPT TO:<a@b>", "XRCPTFORWARD", "k+3Dv") == "RCPT TO:<a@b> XRCPTFORWARD=k+3Dv"
    assert add_rcpt_param("RCPT TO:<a@b> XRCPTFORWARD=x", "XRCPTFORWARD", "y") is None
    assert add_rcpt_param("MAIL FROM:<a@b>", "XRCPTFORWARD", "y") is None
    assert add_rcpt_param("RCPT TO:<a@b", "XRCPTFORWARD", "y") is None


def test_rewriter_leaves_message_content_alone() -> None:
    seen: list[tuple[str, str]] = []
    adder = RcptParamAdder("XRCPTFORWARD", "tenant+3Dacme", on_rewrite=lambda old, new: seen.append((old, new)))
    stream = (
        b"LHLO x\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nDATA\r\nRCPT TO:<in@body>\r\n..\r\n.\r\n"
        b"BDAT 16\r\nRCPT TO:<c@x>\r\n\r\nRCPT TO:<b@x>\n"
    )
    out = b"".join(adder.feed(stream[i : i + 3]) for i in range(0, len(stream), 3)) + adder.flush()
    assert out == stream.replace(b"<a@x>", b"<a@x> XRCPTFORWARD=tenant+3Dacme").replace(
        b"<b@x>", b"<b@x> XRCPTFORWARD=tenant+3Dacme"
    )
    assert seen == [
        ("RCPT TO:<a@x>", "RCPT TO:<a@x> XRCPTFORWARD=tenant+3Dacme"),
        ("RCPT TO:<b@x>", "RCPT TO:<b@x> XRCPTFORWARD=tenant+3Dacme"),
    ]
    assert adder.feed(b"RCPT TO:<partial") == b""
    assert adder.flush() == b"RCPT TO:<partial"


# --- POP3 -------------------------------------------------------------------------------------------------------


def test_pop3_helpers() -> None:
    assert greeting_offers_xclient("+OK [XCLIENT] Dovecot (Debian) ready.")
    assert not greeting_offers_xclient("+OK Dovecot ready.")
    assert is_ok("+OK Updated") and not is_ok("-ERR Invalid parameters")
    assert xoip_as_xclient("203.0.113.7") == "XCLIENT ADDR=203.0.113.7"
    assert format_multiline("+OK", ["PLAIN", ".hidden"]) == ["+OK", "PLAIN", "..hidden", "."]
