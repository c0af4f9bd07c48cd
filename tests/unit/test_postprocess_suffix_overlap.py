"""Overlap with the following lines."""

from __future__ import annotations

from qwen_ls.postprocess import CompletionContext
from qwen_ls.postprocess.cursor import cursor_from
from qwen_ls.postprocess.suffix_overlap import suffix_line_overlap


def cut(document: str, raw: str, language: str = "python", final: bool = True) -> str | None:
    prefix, suffix = document.split("█")
    k = suffix_line_overlap(raw, cursor_from(CompletionContext(prefix, suffix, language)), final=final)
    return None if k is None else raw[:k]


DOC = "def f(a):\n    █\n    b = a + 1\n    return b\n"


def test_run_on_into_the_following_lines_is_cut() -> None:
    assert cut(DOC, "a *= 2\n    b = a + 1\n    return b\n") == "a *= 2"


def test_completion_that_only_repeats_them_becomes_empty() -> None:
    assert cut(DOC, "b = a + 1\n    return b\n") == ""


def test_same_text_at_another_indentation_is_not_a_repeat() -> None:
    doc = "def f(a):\n    █\n    return False\n"
    assert cut(doc, "for x in a:\n        if x:\n            return False\n    return True\n") is None


def test_a_matching_line_must_be_confirmed_by_the_next_ones() -> None:
    raw = "a *= 2\n    b = a + 1\n    print(b)\n    b = a + 1\n    return b\n"
    assert cut(DOC, raw) == "a *= 2\n    b = a + 1\n    print(b)"


def test_line_cut_short_by_the_token_limit() -> None:
    assert cut(DOC, "a *= 2\n    b = a +") == "a *= 2"
    assert cut(DOC, "a *= 2\n    b = a +", final=False) is None


def test_lines_inserted_before_existing_code() -> None:
    doc = "def f(a):\n█    return a\n"
    assert cut(doc, "    a += 1\n    return a\n") == "    a += 1"
