"""harness.protocol.imap: ID formatting/parsing, command parsing and framing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.protocol.imap import (
    Command,
    CommandFramer,
    FramedCommand,
    FramerEvent,
    IdField,
    ImapFramingError,
    ImapParseError,
    NeedContinuation,
    decode,
    encode,
    format_id,
    is_nonsync_literal,
    literal_length,
    parse_command,
    parse_id_args,
    quote_string,
)

# Verbatim from observed-findings.md (E1/E2): what Dovecot sends to its next hop.
D23_FIELDS: list[IdField] = [
    ("x-session-id", "abc123"),
    ("x-originating-ip", "203.0.113.7"),
    ("x-originating-port", "51234"),
    ("x-connected-ip", "10.231.7.20"),
    ("x-connected-port", "143"),
    ("x-proxy-ttl", "4"),
    ("x-forward-tenant", "acme"),
]
D23_LINE = (
    'I ID ("x-session-id" "abc123" "x-originating-ip" "203.0.113.7" '
    '"x-originating-port" "51234" "x-connected-ip" "10.231.7.20" '
    '"x-connected-port" "143" "x-proxy-ttl" "4" "x-forward-tenant" "acme")'
)
D24_LINE = (
    'I ID ("x-multiplex" "0" "x-session-id" "2GKgkw5hsJcK5wcK" '
    '"x-originating-ip" "10.231.7.10" "x-originating-port" "38832" '
    '"x-connected-ip" "10.231.7.20" "x-connected-port" "143" "x-proxy-ttl" "6" '
    '"x-client-transport" "insecure")'
)
ID_PREFIX = "I ID "


# --- format_id ----------------------------------------------------------------------


def test_format_id_reproduces_dovecot_23_line() -> None:
    assert format_id(D23_FIELDS) == D23_LINE


def test_format_id_nil_value_and_custom_tag() -> None:
    assert format_id([("k", "v"), ("k2", None)], tag="mh1") == 'mh1 ID ("k" "v" "k2" NIL)'


def test_format_id_without_fields_is_nil() -> None:
    assert format_id([]) == "I ID NIL"


def test_format_id_escapes_quote_and_backslash() -> None:
    assert format_id([("k", 'a"b\\c')]) == 'I ID ("k" "a\\"b\\\\c")'


@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "a\x00b"])
def test_format_id_refuses_unquotable_value_naming_the_key(bad: str) -> None:
    with pytest.raises(ValueError, match="x-session-id"):
        format_id([("x-originating-ip", "1.2.3.4"), ("x-session-id", bad)])


def test_quote_string_names_the_offending_character() -> None:
    with pytest.raises(ValueError, match="LF"):
        quote_string("a\nb")


# --- parse_id_args ------------------------------------------------------------------


def test_parse_dovecot_23_line() -> None:
    command = parse_command(D23_LINE)
    assert (command.tag, command.name) == ("I", "ID")
    assert parse_id_args(command.args) == D23_FIELDS


def test_parse_dovecot_24_line_keeps_order() -> None:
    fields = parse_id_args(D24_LINE[len(ID_PREFIX) :])
    assert [key for key, _ in fields] == [
        "x-multiplex",
        "x-session-id",
        "x-originating-ip",
        "x-originating-port",
        "x-connected-ip",
        "x-connected-port",
        "x-proxy-ttl",
        "x-client-transport",
    ]
    assert fields[0] == ("x-multiplex", "0")
    assert fields[-1] == ("x-client-transport", "insecure")


@pytest.mark.parametrize("text", ["NIL", "nil", " NIL ", "()", "( )"])
def test_parse_empty(text: str) -> None:
    assert parse_id_args(text) == []


def test_parse_nil_value_and_atoms() -> None:
    assert parse_id_args('("a" NIL b 5 "c" nil)') == [("a", None), ("b", "5"), ("c", None)]


def test_parse_escaped_quotes_and_backslashes() -> None:
    assert parse_id_args(r'("k" "say \"hi\" C:\\dir")') == [("k", 'say "hi" C:\\dir')]


def test_parse_keeps_key_case_and_duplicates() -> None:
    text = '("X-Originating-IP" "1.1.1.1" "x-originating-ip" "2.2.2.2")'
    assert parse_id_args(text) == [
        ("X-Originating-IP", "1.1.1.1"),
        ("x-originating-ip", "2.2.2.2"),
    ]


def test_parse_synchronizing_literal() -> None:
    text = '("x-session-id" {6}\r\nab\r\ncd "k" "v")'
    assert parse_id_args(text) == [("x-session-id", "ab\r\ncd"), ("k", "v")]


def test_parse_nonsync_literal_as_key() -> None:
    assert parse_id_args('({12+}\r\nx-session-id "s1")') == [("x-session-id", "s1")]


def test_parse_literal_counts_bytes_not_characters() -> None:
    assert parse_id_args('("k" {2}\r\né)') == [("k", "é")]


def test_parse_empty_quoted_and_literal() -> None:
    assert parse_id_args('("" {0}\r\n)') == [("", "")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ('("a")', "odd number"),
        ('("a" "b" "c")', "odd number"),
        ('("a" "b"', "unterminated list"),
        ('("a" "b', "unterminated quoted"),
        ('("a" "b\r\n")', "unterminated quoted"),
        ('("a" "b") x', "trailing garbage"),
        ('("a" "b"))', "trailing garbage"),
        ('("a" {x}\r\nb)', "bad literal length"),
        ('("a" {}\r\nb)', "bad literal length"),
        ('("a" {-1}\r\nb)', "bad literal length"),
        ('("a" {9}\r\nb)', "only"),
        ('("a" {1}b)', "CRLF"),
        ('(NIL "v")', "NIL"),
        ('("a" ("b"))', "unexpected"),
        ('"a" "b"', "NIL or a parenthesised list"),
        ('("a""b")', "space"),
        (r'("a" "b\x")', "backslash"),
        ('ID ("a" "b")', "NIL or a parenthesised list"),
    ],
)
def test_parse_rejects_malformed(text: str, message: str) -> None:
    with pytest.raises(ImapParseError, match=message):
        parse_id_args(text)


def test_parse_error_is_a_value_error() -> None:
    assert issubclass(ImapParseError, ValueError)


# Printable keys and values, including the characters that need escaping.
quotable = st.text(
    st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="\r\n\x00")
    | st.sampled_from(['"', "\\", " ", "(", ")", "{", "}"])
)
id_fields = st.lists(st.tuples(quotable, st.none() | quotable), max_size=12)


@given(id_fields)
def test_format_then_parse_round_trips(fields: list[IdField]) -> None:
    assert parse_id_args(format_id(fields)[len(ID_PREFIX) :]) == fields


@given(st.lists(st.tuples(quotable, st.none() | quotable), min_size=1, max_size=6))
def test_literals_parse_like_quoted_strings(fields: list[IdField]) -> None:
    items = []
    for key, value in fields:
        items.append(_as_literal(key))
        items.append("NIL" if value is None else _as_literal(value))
    assert parse_id_args("(" + " ".join(items) + ")") == fields


def _as_literal(value: str) -> str:
    return f"{{{len(encode(value))}+}}\r\n{value}"


# --- parse_command ----------------------------------------------------------------


def test_parse_command_uppercases_name_and_keeps_args_raw() -> None:
    assert parse_command('a1 login "Alice"  x') == Command("a1", "LOGIN", '"Alice"  x')


def test_parse_command_without_args() -> None:
    assert parse_command("a1 NOOP") == Command("a1", "NOOP", "")


@pytest.mark.parametrize(("line", "message"), [("", "empty"), ("a1", "no name"), (" NOOP", "tag")])
def test_parse_command_rejects(line: str, message: str) -> None:
    with pytest.raises(ImapParseError, match=message):
        parse_command(line)


# --- literal detection ------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "size", "nonsync"),
    [
        (b"a LOGIN {5}", 5, False),
        (b"a LOGIN {5}\r\n", 5, False),
        (b"a LOGIN {12+}\r\n", 12, True),
        (b"a LOGIN {0}\n", 0, False),
        (b'a LOGIN "{5}"', None, False),
        (b"a LOGIN {5} ", None, False),
        (b"a LOGIN {x}", None, False),
        (b"a NOOP", None, False),
    ],
)
def test_literal_detection(line: bytes, size: int | None, nonsync: bool) -> None:
    assert literal_length(line) == size
    assert is_nonsync_literal(line) is nonsync


# --- CommandFramer ------------------------------------------------------------------


def test_framer_pipelined_id_and_login() -> None:
    stream = encode(D23_LINE) + b'\r\nL LOGIN "alice" "secret"\r\n'
    events = CommandFramer().feed(stream)
    assert events == [
        FramedCommand(D23_LINE, encode(D23_LINE) + b"\r\n", pipelined=True),
        FramedCommand('L LOGIN "alice" "secret"', b'L LOGIN "alice" "secret"\r\n', False),
    ]


def test_framer_asks_for_continuation_before_the_literal_arrives() -> None:
    framer = CommandFramer()
    assert framer.feed(b"a LOGIN {5}\r\n") == [NeedContinuation(5)]
    assert framer.feed(b"alice {6}\r\n") == [NeedContinuation(6)]
    [command] = framer.feed(b"sec\r\nt\r\n")
    assert isinstance(command, FramedCommand)
    assert command.text == "a LOGIN {5}\r\nalice {6}\r\nsec\r\nt"
    assert parse_command(command.text).name == "LOGIN"


def test_framer_nonsync_literal_needs_no_continuation() -> None:
    [command] = CommandFramer().feed(b"a LOGIN {5+}\r\nalice bob\r\n")
    assert command == FramedCommand("a LOGIN {5+}\r\nalice bob", b"a LOGIN {5+}\r\nalice bob\r\n", False)


def test_framer_accepts_bare_lf() -> None:
    assert CommandFramer().feed(b"a NOOP\n") == [FramedCommand("a NOOP", b"a NOOP\n", False)]


def test_framer_keeps_undecodable_bytes() -> None:
    [command] = CommandFramer().feed(b'a ID ("k" "\xff")\r\n')
    assert isinstance(command, FramedCommand)
    assert encode(command.text) == b'a ID ("k" "\xff")'
    args = parse_command(command.text).args
    assert parse_id_args(args) == [("k", decode(b"\xff"))]


def test_framer_limits_a_line_without_end() -> None:
    framer = CommandFramer(max_command_bytes=16)
    framer.feed(b"a" * 16)
    with pytest.raises(ImapFramingError, match="limit of 16"):
        framer.feed(b"a")


def test_framer_limits_announced_literal_before_asking_for_it() -> None:
    with pytest.raises(ImapFramingError):
        CommandFramer(max_command_bytes=100).feed(b"a LOGIN {101}\r\n")


def test_framer_take_buffer_returns_the_unfinished_command() -> None:
    framer = CommandFramer()
    framer.feed(b"a LOGIN {5}\r\nali")
    assert framer.take_buffer() == b"a LOGIN {5}\r\nali"
    assert framer.feed(b"b NOOP\r\n") == [FramedCommand("b NOOP", b"b NOOP\r\n", False)]


line_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="}"),
    max_size=20,
)
literal = st.tuples(line_text, st.binary(max_size=30), st.booleans())
command = st.tuples(line_text, st.lists(literal, max_size=3), line_text)


def _command_bytes(parts: tuple[str, list[tuple[str, bytes, bool]], str]) -> bytes:
    head, literals, tail = parts
    out = b"t " + encode(head)
    for before, data, nonsync in literals:
        marker = f"{{{len(data)}{'+' if nonsync else ''}}}"
        out += encode(before) + encode(marker) + b"\r\n" + data
    return out + encode(tail) + b"\r\n"


def _without_pipelined(events: list[FramerEvent]) -> list[object]:
    return [(e.text, e.raw) if isinstance(e, FramedCommand) else e for e in events]


@given(st.lists(command, min_size=1, max_size=5), st.data())
def test_framer_is_independent_of_chunking(
    commands: list[tuple[str, list[tuple[str, bytes, bool]], str]], data: st.DataObject
) -> None:
    stream = b"".join(_command_bytes(parts) for parts in commands)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    framer = CommandFramer()
    chunked = [event for chunk in chunks for event in framer.feed(chunk)]
    whole = CommandFramer().feed(stream)
    assert _without_pipelined(chunked) == _without_pipelined(whole)
    framed = [e for e in whole if isinstance(e, FramedCommand)]
    assert len(framed) == len(commands)
    assert b"".join(e.raw for e in framed) == stream
    assert framer.take_buffer() == b""
