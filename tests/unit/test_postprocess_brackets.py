"""Brackets balanced against the code after the cursor."""

from __future__ import annotations

from qwen_ls.postprocess import CompletionContext
from qwen_ls.postprocess.brackets import bracket_cut
from qwen_ls.postprocess.cursor import cursor_from


def cut(document: str, raw: str, language: str = "javascript", end_line: bool = True) -> str:
    prefix, suffix = document.split("█")
    k = bracket_cut(raw, cursor_from(CompletionContext(prefix, suffix, language)), end_line=end_line)
    return raw if k is None else raw[:k]


def test_closer_already_after_the_cursor_is_not_repeated() -> None:
    assert cut("f(█\n);\n", "a,\n  b\n);\nmore();") == "a,\n  b"


def test_closer_on_its_own_line_at_another_indentation_is_needed() -> None:
    doc = "const a = [\n  {\n    x: 1,\n█\n];\n"
    assert cut(doc, "    y: 2,\n  },\n  { x: 3 },\n") == "    y: 2,\n  },"


def test_missing_closer_kept_and_the_completion_ends_with_its_line() -> None:
    doc = "const o = {\n  a: 1,\n  █\n\nexport default o;\n"
    assert cut(doc, "b: 2,\n};\n\nexport default o;\n") == "b: 2,\n};"


def test_single_line_mode_leaves_the_end_to_the_statement_rule() -> None:
    doc = "void f(█\n  body();\n"
    assert cut(doc, "int a)\n{\n", "java", end_line=False) == "int a)\n{\n"


def test_no_prefix_closer_no_cut() -> None:
    assert cut("x = █\n", "f(a, [b])\n") == "f(a, [b])\n"
