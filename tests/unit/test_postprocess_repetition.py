"""Loops are cut after the first copy."""

from __future__ import annotations

from qwen_ls.postprocess.repetition import repetition_cut


def cut(raw: str) -> str:
    k = repetition_cut(raw)
    return raw if k is None else raw[:k]


def test_same_line_three_times() -> None:
    assert cut("a()\nx += 1\nx += 1\nx += 1\nb()\n") == "a()\nx += 1"


def test_two_copies_of_one_line_are_fine() -> None:
    assert cut("print()\nprint()\n") == "print()\nprint()\n"


def test_block_repeated() -> None:
    raw = "a = f(1)\nb = g(a)\na = f(1)\nb = g(a)\n"
    assert cut(raw) == "a = f(1)\nb = g(a)"


def test_punctuation_only_lines_do_not_count() -> None:
    assert cut("  }\n}\n}\n}\n") == "  }\n}\n}\n}\n"
