"""Replies as a client reads them: IMAP response lines, POP3 status lines, SMTP/LMTP replies and EHLO's XCLIENT."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.protocol.imap import Response, greeting_status, parse_response_line
from harness.protocol.pop3 import StatusLine, parse_status_line
from harness.protocol.smtp import (
    Reply,
    advertised_keywords,
    advertised_xclient,
    data_reply_count,
    reply_continues,
    reply_status,
)

# Lines as a client decodes them: anything but line breaks.
lines = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=40)
words = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)
codes = st.integers(200, 599)


# --- IMAP -----------------------------------------------------------------------------------------------------


def test_a_tagged_reply_splits_into_tag_status_and_text() -> None:
    response = parse_response_line("c2 OK [CAPABILITY IMAP4rev1] Logged in")
    assert response == Response("c2", "OK", "[CAPABILITY IMAP4rev1] Logged in",
                                "c2 OK [CAPABILITY IMAP4rev1] Logged in")
    assert response.after_tag == "OK [CAPABILITY IMAP4rev1] Logged in"
    assert response.completes("c2") and not response.completes("c1") and not response.untagged


def test_untagged_bye() -> None:
    response = parse_response_line("* BYE Disconnected: Too many invalid commands.")
    assert response.untagged and response.is_bye
    assert response.text == "Disconnected: Too many invalid commands."
    assert parse_response_line("* BYE").is_bye and parse_response_line("* BYE").text == ""
    assert not parse_response_line("* OK ready").is_bye
    assert not parse_response_line("c1 BYE x").is_bye


def test_a_tag_alone_completes_nothing() -> None:
    assert not parse_response_line("c1").completes("c1")
    assert parse_response_line("c1 ").completes("c1")


@pytest.mark.parametrize(("line", "status"), [
    ("* OK [CAPABILITY IMAP4rev1 ID] Dovecot ready.", "OK"),
    ("* PREAUTH ready", "PREAUTH"),
    ("* BYE Too many connections", "BYE"),
    ("garbage", "garbage"),
    ("", ""),
])
def test_greeting_status(line: str, status: str) -> None:
    assert greeting_status(line) == status


@given(lines)
def test_a_response_line_splits_at_its_first_two_spaces(line: str) -> None:
    response = parse_response_line(line)
    assert response.line == line and " " not in response.tag
    if " " in line:
        assert f"{response.tag} {response.after_tag}" == line
        assert response.after_tag.split(" ", 1)[0] == response.status
        assert response.after_tag == response.status + (" " + response.text if " " in response.after_tag else "")


@given(words, lines)
def test_completes_is_the_tag_and_a_space(tag: str, line: str) -> None:
    assert parse_response_line(line).completes(tag) == line.startswith(f"{tag} ")


@given(lines)
def test_greeting_status_is_the_second_word(line: str) -> None:
    assert greeting_status(line) == (line.split(" ", 2)[1] if " " in line else line)


# --- POP3 -----------------------------------------------------------------------------------------------------


def test_status_lines() -> None:
    assert parse_status_line("+OK [XCLIENT] Dovecot ready.") == StatusLine("+OK", "[XCLIENT] Dovecot ready.")
    assert parse_status_line("+OK").ok and parse_status_line("+OK") == StatusLine("+OK", "")
    failed = parse_status_line("-ERR [AUTH] Authentication failed.")
    assert not failed.ok and failed.status == "-ERR"


@given(lines)
def test_the_status_is_the_first_word(line: str) -> None:
    status = parse_status_line(line)
    assert status.status == line.split(" ", 1)[0]
    assert status.ok == line.split(" ", 1)[0].startswith("+OK")
    assert (f"{status.status} {status.text}" if " " in line else status.status) == line


# --- SMTP / LMTP --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "continues"), [
    ("250-submit.example", True), ("250 8BITMIME", False), ("250", False), ("354 go ahead", False),
    ("not a reply", False), ("", False), ("25-x", False),
])
def test_reply_continues(line: str, continues: bool) -> None:
    assert reply_continues(line) is continues


@given(codes, st.sampled_from(" -"), lines)
def test_a_dash_after_the_code_announces_another_line(code: int, mark: str, text: str) -> None:
    line = f"{code}{mark}{text}"
    assert reply_continues(line) == (mark == "-")


@given(st.lists(lines, min_size=1, max_size=4))
def test_the_status_is_what_the_last_line_begins_with(reply: list[str]) -> None:
    assert reply_status(reply) == reply[-1][:3]


def test_a_reply_reads_its_last_line() -> None:
    reply = Reply(("250-lmtp.example", "250 XRCPTFORWARD"))
    assert reply.last == "250 XRCPTFORWARD" and reply.status == "250" and reply.positive
    assert Reply(("354 OK",)).intermediate and not Reply(("354 OK",)).positive
    refused = Reply(("550 5.7.0 Not trusted",))
    assert refused.status == "550" and not refused.positive and not refused.intermediate


@pytest.mark.parametrize(("reply", "advertised"), [
    (["250-lmtp.example", "250-XCLIENT ADDR PORT PROTO HELO LOGIN SESSION TTL TIMEOUT", "250 XRCPTFORWARD"],
     "ADDR PORT PROTO HELO LOGIN SESSION TTL TIMEOUT"),
    (["250-submit.example", "250 XCLIENT ADDR PORT FORWARD"], "ADDR PORT FORWARD"),
    (["250-mx.example", "250 xclient name addr"], "name addr"),
    (["250-mx.example", "250 XCLIENT"], ""),
    (["250-mx.example", "250 8BITMIME"], None),
    (["250 mx.example"], None),
    (["502 5.5.2 Error: command not recognized"], None),
])
def test_advertised_xclient(reply: list[str], advertised: str | None) -> None:
    assert advertised_xclient(reply) == advertised


@given(st.lists(words, max_size=8), st.lists(words.map(lambda word: "X" + word.upper()), max_size=3))
def test_advertised_xclient_lists_the_attributes_as_sent(attributes: list[str], others: list[str]) -> None:
    keywords = [keyword for keyword in others if keyword != "XCLIENT"]
    texts = ["host.example", *keywords, " ".join(["XCLIENT", *attributes])]
    reply = [f"250{'-' if index < len(texts) - 1 else ' '}{text}" for index, text in enumerate(texts)]
    assert advertised_xclient(reply) == " ".join(attributes)


@pytest.mark.parametrize(("reply", "keywords"), [
    (["250-lmtp.example", "250-8BITMIME", "250-xclient ADDR PORT", "250 XRCPTFORWARD"],
     "8BITMIME XCLIENT XRCPTFORWARD"),
    (["250-mx.example", "250 PIPELINING"], "PIPELINING"),
    (["250 mx.example"], ""),
    (["502 5.5.2 Error: command not recognized"], None),
])
def test_advertised_keywords(reply: list[str], keywords: str | None) -> None:
    assert advertised_keywords(reply) == keywords


def test_lmtp_answers_data_once_per_recipient() -> None:
    assert data_reply_count("LHLO", 2) == 2
    assert data_reply_count("EHLO", 2) == 1
    assert data_reply_count("lhlo", 3) == 3
