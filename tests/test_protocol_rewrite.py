"""Rewriting forwarding commands as a faulty hop would: ID fields, XCLIENT lines, RCPT XRCPTFORWARD."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.protocol.imap import (
    IdField,
    ImapParseError,
    format_id,
    parse_command,
    parse_id_args,
    rewrite_id_command,
    rewrite_id_fields,
)
from harness.protocol.smtp import SmtpParseError, bdat_size
from harness.protocol.xclient import (
    POP3,
    SMTP,
    Flavour,
    XclientCommand,
    XclientError,
    decode_forward,
    decode_rcpt_forward,
    encode_forward,
    encode_rcpt_forward,
    format_xclient,
    parse_xclient,
    rewrite_rcpt_forward,
    rewrite_xclient,
    split_xclient,
)
from harness.protocol.xtext import xtext_encode

D23_ID = (
    'I ID ("x-session-id" "abc123" "x-originating-ip" "203.0.113.7" "x-originating-port" "51234" '
    '"x-connected-ip" "10.231.7.20" "x-connected-port" "143" "x-proxy-ttl" "4" "x-forward-tenant" "acme")'
)
POP3_D23 = "XCLIENT ADDR=203.0.113.7 PORT=51234 SESSION=abc123 TTL=4 FORWARD=dGVuYW50PWFjbWU="
SUBMISSION_D24 = (
    "XCLIENT HELO=orig.example PROTO=ESMTP TTL=4 PORT=51234 ADDR=203.0.113.7 SESSION=abc123 "
    "CLIENT-TRANSPORT=insecure FORWARD=dGVuYW50PWFjbWU+3D"
)
TWO_FIELDS = encode_forward([("tenant", "acme"), ("user", "u 1")])

quotable = st.text(st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="\r\n\x00"))
id_keys = st.from_regex(r"[a-z][a-z-]{0,12}", fullmatch=True)
id_fields = st.lists(st.tuples(id_keys, st.none() | quotable), max_size=8)
NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,15}", fullmatch=True)
NO_BREAKS = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n\x00"))
POP3_VALUES = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n\x00 "))
FORWARD_KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
FORWARD_FIELDS = st.lists(st.tuples(FORWARD_KEYS, st.text()), min_size=1, max_size=6)


def change(
    drop: Collection[str] = (),
    drop_forward: Collection[str] = (),
    ttl_delta: int = 0,
    set_fields: Sequence[IdField] = (),
) -> Callable[[list[IdField]], list[IdField]]:
    return functools.partial(
        rewrite_id_fields, drop=drop, drop_forward=drop_forward, ttl_delta=ttl_delta, set_fields=set_fields
    )


# --- IMAP ID ---------------------------------------------------------------------------------------


def test_id_fields_drop_is_case_insensitive_and_keeps_order() -> None:
    fields = [("x-session-id", "s"), ("X-Originating-IP", "1.2.3.4"), ("x-proxy-ttl", "4"), ("x-originating-ip", "5")]
    assert rewrite_id_fields(fields, drop=["x-originating-ip"]) == [("x-session-id", "s"), ("x-proxy-ttl", "4")]


def test_id_fields_drop_forward_names_the_x_forward_key() -> None:
    fields = [("x-forward-tenant", "acme"), ("X-Forward-User", "u"), ("tenant", "kept")]
    assert rewrite_id_fields(fields, drop_forward=["TENANT", "user"]) == [("tenant", "kept")]


@pytest.mark.parametrize(
    ("value", "delta", "expected"), [("4", 1, "5"), ("4", -4, "0"), ("1", -2, "-1"), ("-1", 1, "0")]
)
def test_id_fields_ttl_delta(value: str, delta: int, expected: str) -> None:
    assert rewrite_id_fields([("X-Proxy-TTL", value)], ttl_delta=delta) == [("X-Proxy-TTL", expected)]


@pytest.mark.parametrize("value", [None, "", "four", "4.0", " 4", "٤"])
def test_id_fields_ttl_that_is_no_number_is_left_alone(value: str | None) -> None:
    assert rewrite_id_fields([("x-proxy-ttl", value)], ttl_delta=1) == [("x-proxy-ttl", value)]


def test_id_fields_set_replaces_every_match_in_place_or_appends() -> None:
    fields = [("x-originating-ip", "1"), ("x-proxy-ttl", "4"), ("X-ORIGINATING-IP", "2")]
    result = rewrite_id_fields(fields, set_fields=[("x-originating-ip", "192.0.2.66"), ("x-new", None)])
    assert result == [("x-originating-ip", "192.0.2.66"), ("x-proxy-ttl", "4"), ("X-ORIGINATING-IP", "192.0.2.66"),
                      ("x-new", None)]


def test_id_fields_set_comes_after_drop_and_ttl() -> None:
    fields = [("x-proxy-ttl", "4"), ("k", "v")]
    result = rewrite_id_fields(fields, drop=["k"], ttl_delta=1, set_fields=[("k", "again"), ("x-proxy-ttl", "9")])
    assert result == [("x-proxy-ttl", "9"), ("k", "again")]


def test_id_command_rewrites_dovecot_23_id() -> None:
    line = rewrite_id_command(D23_ID, change(drop=["x-originating-ip"], drop_forward=["tenant"], ttl_delta=1))
    assert line == (
        'I ID ("x-session-id" "abc123" "x-originating-port" "51234" "x-connected-ip" "10.231.7.20" '
        '"x-connected-port" "143" "x-proxy-ttl" "5")'
    )


def test_id_command_keeps_tag_and_name_spelling_and_inlines_literals() -> None:
    text = 'a1 id ({11+}\r\nx-proxy-ttl {1}\r\n4 "k" NIL)'
    assert rewrite_id_command(text, change(ttl_delta=2)) == 'a1 id ("x-proxy-ttl" "6" "k" NIL)'
    assert rewrite_id_command("t ID NIL", change(set_fields=[("k", "v")])) == 't ID ("k" "v")'
    assert rewrite_id_command('t ID ("k" "v")', change(drop=["k"])) == "t ID NIL"


def test_id_command_no_op_returns_the_text_byte_for_byte() -> None:
    odd = 'I ID ( "x-proxy-ttl"   {1+}\r\n4  "k" nil )'
    assert parse_command(odd).name == "ID"
    for no_op in (change(), change(drop=["absent"]), change(set_fields=[("k", None)]), change(ttl_delta=0)):
        assert rewrite_id_command(odd, no_op) is odd


def test_id_command_errors() -> None:
    with pytest.raises(ImapParseError, match="not an ID"):
        rewrite_id_command("a LOGIN x y", change())
    with pytest.raises(ImapParseError):
        rewrite_id_command('a ID ("odd")', change())
    with pytest.raises(ValueError, match="CR"):
        rewrite_id_command('a ID ("k" {3}\r\na\rb "z" "1")', change(drop=["z"]))


@given(id_fields, st.sets(id_keys, max_size=4))
def test_id_rewrite_then_parse_gives_the_fields_without_the_dropped(fields: list[IdField], drop: set[str]) -> None:
    text = format_id(fields)
    rewritten = rewrite_id_command(text, change(drop=drop))
    assert parse_id_args(parse_command(rewritten).args) == [f for f in fields if f[0].lower() not in drop]
    if not any(key in drop for key, _ in fields):
        assert rewritten == text


@given(id_fields, st.integers(-10, 10), st.integers(0, 100))
def test_id_ttl_delta_adds_to_the_ttl(fields: list[IdField], delta: int, ttl: int) -> None:
    result = rewrite_id_fields([*fields, ("x-proxy-ttl", str(ttl))], ttl_delta=delta)
    assert result[-1] == ("x-proxy-ttl", str(ttl + delta))


# --- XCLIENT -------------------------------------------------------------------------------------------


def test_xclient_drop_attributes_case_insensitively() -> None:
    assert rewrite_xclient(POP3_D23, POP3, drop=["addr", "Forward"]) == "XCLIENT PORT=51234 SESSION=abc123 TTL=4"


def test_xclient_dropping_every_attribute_leaves_the_verb() -> None:
    assert rewrite_xclient("xclient ADDR=1.2.3.4", POP3, drop=["ADDR"]) == "xclient"


@pytest.mark.parametrize(("flavour", "encode"), [(POP3, lambda value: value), (SMTP, xtext_encode)])
def test_xclient_drop_forward_re_encodes_per_flavour(flavour: Flavour, encode: object) -> None:
    assert callable(encode)
    line = format_xclient([("ADDR", "1.2.3.4"), ("FORWARD", TWO_FIELDS), ("TTL", "4")], flavour)
    rewritten = rewrite_xclient(line, flavour, drop_forward=["Tenant"])
    assert rewritten == f"XCLIENT ADDR=1.2.3.4 FORWARD={encode(encode_forward([('user', 'u 1')]))} TTL=4"
    assert parse_xclient(rewritten, flavour).forward == [("user", "u 1")]
    assert rewrite_xclient(line, flavour, drop_forward=["tenant", "user"]) == "XCLIENT ADDR=1.2.3.4 TTL=4"


def test_xclient_dovecot_lines_lose_their_only_forward_field() -> None:
    assert rewrite_xclient(POP3_D23, POP3, drop_forward=["tenant"]) == (
        "XCLIENT ADDR=203.0.113.7 PORT=51234 SESSION=abc123 TTL=4"
    )
    assert rewrite_xclient(SUBMISSION_D24, SMTP, drop_forward=["tenant"]) == SUBMISSION_D24.removesuffix(
        " FORWARD=dGVuYW50PWFjbWU+3D"
    )


def test_xclient_forward_that_does_not_decode_is_left_alone() -> None:
    assert rewrite_xclient("XCLIENT FORWARD=%%% TTL=4", POP3, drop_forward=["tenant"]) == "XCLIENT FORWARD=%%% TTL=4"
    assert rewrite_xclient("XCLIENT FORWARD=a+zz", SMTP, drop_forward=["tenant"]) == "XCLIENT FORWARD=a+zz"


@pytest.mark.parametrize(
    ("line", "delta", "expected"),
    [
        (POP3_D23, 1, POP3_D23.replace("TTL=4", "TTL=5")),
        ("XCLIENT TTL=4 ttl=7", -1, "XCLIENT TTL=3 ttl=6"),
        ("XCLIENT TTL=[UNAVAILABLE] ADDR=1.2.3.4", 1, "XCLIENT TTL=[UNAVAILABLE] ADDR=1.2.3.4"),
        ("XCLIENT ADDR=1.2.3.4", 1, "XCLIENT ADDR=1.2.3.4"),
        ("XCLIENT TTL=1", -2, "XCLIENT TTL=-1"),
    ],
)
def test_xclient_ttl_delta(line: str, delta: int, expected: str) -> None:
    assert rewrite_xclient(line, SMTP, ttl_delta=delta) == expected


def test_xclient_set_replaces_in_place_or_appends_encoded() -> None:
    rewritten = rewrite_xclient(
        SUBMISSION_D24,
        SMTP,
        set_attributes=[("addr", "192.0.2.66"), ("name", "a b"), ("FORWARD", encode_forward([("k", "v")]))],
    )
    assert rewritten == (
        "XCLIENT HELO=orig.example PROTO=ESMTP TTL=4 PORT=51234 ADDR=192.0.2.66 SESSION=abc123 "
        "CLIENT-TRANSPORT=insecure FORWARD=az12 NAME=a+20b"
    )
    assert parse_xclient(rewritten, SMTP).forward == [("k", "v")]


def test_xclient_errors() -> None:
    with pytest.raises(XclientError):
        rewrite_xclient("XCLIENT ADDR", SMTP, drop=["x"])
    with pytest.raises(XclientError, match="SP"):
        rewrite_xclient(POP3_D23, POP3, set_attributes=[("ADDR", "1 2")])
    with pytest.raises(XclientError, match="name"):
        rewrite_xclient(POP3_D23, POP3, set_attributes=[("A B", "1")])


def test_xclient_no_op_returns_the_line_byte_for_byte() -> None:
    odd = "xclient  ADDR=1.2.3.4   ttl=[UNAVAILABLE] FORWARD=%%%"
    assert rewrite_xclient(odd, POP3) is odd
    assert rewrite_xclient(odd, POP3, drop=["PORT"]) is odd
    assert rewrite_xclient(odd, POP3, drop_forward=["tenant"]) is odd
    assert rewrite_xclient(odd, POP3, ttl_delta=1) is odd
    assert rewrite_xclient(odd, POP3, set_attributes=[("ADDR", "1.2.3.4")]) is odd


@given(st.lists(st.tuples(NAMES, NO_BREAKS), min_size=1, max_size=8), st.sets(NAMES, max_size=4))
def test_xclient_rewrite_then_parse_gives_the_attributes_without_the_dropped(
    attributes: list[tuple[str, str]], drop: set[str]
) -> None:
    line = format_xclient(attributes, SMTP)
    rewritten = rewrite_xclient(line, SMTP, drop=drop)
    kept = tuple(pair for pair in attributes if pair[0].upper() not in {name.upper() for name in drop})
    if kept:
        assert parse_xclient(rewritten, SMTP) == XclientCommand(kept)
    else:
        assert rewritten == "XCLIENT"
    if len(kept) == len(attributes):
        assert rewritten is line


@given(st.lists(st.tuples(NAMES, POP3_VALUES), min_size=1, max_size=6), st.data())
def test_xclient_pop3_no_op_keeps_any_spacing(attributes: list[tuple[str, str]], data: st.DataObject) -> None:
    spaces = data.draw(st.lists(st.integers(1, 3), min_size=len(attributes), max_size=len(attributes)))
    items = (" " * gap + f"{name}={value}" for gap, (name, value) in zip(spaces, attributes, strict=True))
    line = "XCLIENT" + "".join(items)
    assert rewrite_xclient(line, POP3, drop=["NO.SUCH"], drop_forward=["absent"]) is line


@given(FORWARD_FIELDS, st.sets(FORWARD_KEYS, max_size=3), st.sampled_from([POP3, SMTP]))
def test_xclient_drop_forward_keeps_the_other_fields(
    fields: list[tuple[str, str]], drop: set[str], flavour: Flavour
) -> None:
    line = format_xclient([("FORWARD", encode_forward(fields)), ("TTL", "3")], flavour)
    rewritten = rewrite_xclient(line, flavour, drop_forward=drop)
    kept = [field for field in fields if field[0] not in drop]
    command = parse_xclient(rewritten, flavour)
    assert command.get("TTL") == "3"
    if kept:
        assert decode_forward(command.get("FORWARD") or "") == kept
    else:
        assert command.get("FORWARD") is None


# --- RCPT XRCPTFORWARD --------------------------------------------------------------------------------


def test_rcpt_forward_drops_fields_and_then_the_parameter() -> None:
    line = "RCPT TO:<cap@example.test> XRCPTFORWARD=tenant+3Dacme+09k+3Dv NOTIFY=NEVER"
    assert rewrite_rcpt_forward(line, ["Tenant"]) == "RCPT TO:<cap@example.test> XRCPTFORWARD=k+3Dv NOTIFY=NEVER"
    assert rewrite_rcpt_forward(line, ["tenant", "k"]) == "RCPT TO:<cap@example.test> NOTIFY=NEVER"


def test_rcpt_forward_keeps_the_path_as_sent() -> None:
    line = 'rcpt to:  <"a b"@example.test>  xrcptforward=tenant+3Dacme'
    assert rewrite_rcpt_forward(line, ["tenant"]) == 'rcpt to:  <"a b"@example.test>'


@pytest.mark.parametrize(
    "line",
    [
        "RCPT TO:<a@b>",
        "RCPT TO:<a@b>  XRCPTFORWARD=k+3Dv ",
        "RCPT TO:<a@b> XRCPTFORWARD=tenant=acme",
        "RCPT TO:<a@b> OTHER=tenant+3Dacme",
    ],
)
def test_rcpt_forward_no_op_returns_the_line_byte_for_byte(line: str) -> None:
    assert rewrite_rcpt_forward(line, ["tenant"]) is line


def test_rcpt_forward_errors() -> None:
    with pytest.raises(SmtpParseError, match="not a RCPT"):
        rewrite_rcpt_forward("MAIL FROM:<a@b>", ["tenant"])
    with pytest.raises(SmtpParseError):
        rewrite_rcpt_forward("RCPT <a@b>", ["tenant"])


@given(FORWARD_FIELDS, st.sets(FORWARD_KEYS, max_size=3))
def test_rcpt_forward_rewrite_then_parse(fields: list[tuple[str, str]], drop: set[str]) -> None:
    line = f"RCPT TO:<a@b> XRCPTFORWARD={encode_rcpt_forward(fields)} BODY=8BITMIME"
    rewritten = rewrite_rcpt_forward(line, drop)
    kept = [field for field in fields if field[0] not in drop]
    tokens = rewritten.split(" ")
    assert tokens[:2] == ["RCPT", "TO:<a@b>"]
    assert tokens[-1] == "BODY=8BITMIME"
    if kept:
        assert decode_rcpt_forward(tokens[2].removeprefix("XRCPTFORWARD=")) == kept
    else:
        assert len(tokens) == 3
    if kept == fields:
        assert rewritten is line


# --- BDAT ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "size"),
    [("BDAT 10", 10), ("bdat 0 LAST", 0), ("BDAT  7 last ", 7), ("BDAT", None), ("BDAT x", None), ("DATA", None)],
)
def test_bdat_size(line: str, size: int | None) -> None:
    assert bdat_size(line) == size


def test_split_xclient_of_a_rewritten_line_keeps_untouched_raw_values() -> None:
    rewritten = rewrite_xclient(SUBMISSION_D24, SMTP, drop=["HELO"])
    assert split_xclient(rewritten)[-1] == ("FORWARD", "dGVuYW50PWFjbWU+3D")
