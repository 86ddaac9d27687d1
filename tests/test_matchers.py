"""Matchers: literals, node addresses, regex, one_of, not, absent/present, per-version values."""

from __future__ import annotations

from harness.check.matchers import Context, resolve, shape_problem

CTX = Context({"proxy": "10.1.2.10", "client": "10.1.2.1"}, {"dovecot": "2.4.1"})


def test_literal_and_number_compare_as_text() -> None:
    assert resolve(51234, CTX).matches("51234")  # type: ignore[union-attr]
    assert not resolve("51234", CTX).matches("51235")  # type: ignore[union-attr]


def test_node_reference_is_its_address() -> None:
    matcher = resolve("@proxy", CTX)
    assert matcher is not None and matcher.matches("10.1.2.10") and matcher.describe() == "10.1.2.10"


def test_regex_is_a_full_match() -> None:
    matcher = resolve({"regex": "[0-9]+"}, CTX)
    assert matcher is not None and matcher.matches("123") and not matcher.matches("123a")


def test_absent_and_present() -> None:
    absent, present = resolve({"absent": True}, CTX), resolve({"present": True}, CTX)
    assert absent is not None and absent.matches(None) and not absent.matches("")
    assert present is not None and present.matches("") and not present.matches(None)


def test_not_fails_on_the_value_and_on_nothing_observed() -> None:
    matcher = resolve({"not": "@client"}, CTX)
    assert matcher is not None and matcher.matches("203.0.113.7")
    assert not matcher.matches("10.1.2.1") and not matcher.matches(None)


def test_one_of() -> None:
    matcher = resolve({"one_of": ["4", 6]}, CTX)
    assert matcher is not None and matcher.matches("6") and not matcher.matches("5")


def test_version_map_picks_the_most_specific_label() -> None:
    expected = {"dovecot-2.3": "4", "dovecot-2.4": "6", "default": "x"}
    assert resolve(expected, CTX) == resolve("6", CTX)
    assert resolve({"dovecot-2.4.1": "a", "dovecot-2.4": "b"}, CTX) == resolve("a", CTX)
    assert resolve({"dovecot-2.3": "4", "default": "x"}, CTX) == resolve("x", CTX)
    assert resolve({"dovecot-2.3": "4"}, CTX).kind == "unresolved"  # type: ignore[union-attr]


def test_shape_problems() -> None:
    nodes = {"proxy"}
    assert shape_problem("@proxy", nodes) is None
    assert shape_problem("@client", nodes) is None
    assert "names no node" in (shape_problem("@other", nodes) or "")
    assert "exactly one" in (shape_problem({"regex": "a", "absent": True}, nodes) or "")
    assert "bad regex" in (shape_problem({"regex": "("}, nodes) or "")
    assert "absent: true" in (shape_problem({"absent": False}, nodes) or "")
    assert "version key" in (shape_problem({"dovecot 2.4": "x"}, nodes) or "")
    assert "dovecot-2.4: `@x` names no node" in (shape_problem({"dovecot-2.4": "@x"}, nodes) or "")
    assert shape_problem(True, nodes) is not None


def test_a_version_map_without_the_running_version_fails_naming_it() -> None:
    """`{dovecot-9.9: x}` on 2.4.1 is a failing check that says which version ran and which keys there are."""
    from harness.check.matchers import Context, resolve

    matcher = resolve({"dovecot-9.9": "203.0.113.7"}, Context({}, {"dovecot": "2.4.1"}))
    assert matcher is not None and not matcher.matches("203.0.113.7")
    assert "dovecot-2.4.1" in matcher.describe() and "dovecot-9.9" in matcher.describe()
    assert resolve({"dovecot-9.9": "x", "default": "y"}, Context({}, {"dovecot": "2.4.1"})).matches("y")


def test_unknown_version_keys_are_found_nested_but_not_in_matchers() -> None:
    from harness.check.matchers import unknown_version_keys

    known = {"dovecot-2", "dovecot-2.3", "dovecot-2.4", "dovecot-2.4.1"}
    assert unknown_version_keys({"dovecot-9.9": 1, "dovecot-2.4": {"dovecot-2.4.7": 2}}, known) == [
        "dovecot-9.9", "dovecot-2.4.7"]
    assert unknown_version_keys({"min": 1, "max": 2}, known) == []
    assert unknown_version_keys({"backend:dovecot-2.3": 1, "default": 2}, known) == []
