"""Indentation scope."""

from __future__ import annotations

from qwen_ls.postprocess import CompletionContext
from qwen_ls.postprocess.cursor import cursor_from
from qwen_ls.postprocess.indentation import indentation_cut


def cut(document: str, raw: str, language: str = "python") -> str:
    prefix, suffix = document.split("█")
    k = indentation_cut(raw, cursor_from(CompletionContext(prefix, suffix, language)))
    return raw if k is None else raw[:k]


def test_stops_at_a_dedent_past_the_block() -> None:
    doc = "def f(x):\n    if x:\n        █\n    return 0\n"
    assert cut(doc, "a = 1\n        b = 2\n    else:\n        c = 3\n") == "a = 1\n        b = 2"


def test_after_a_signature_the_block_is_deeper() -> None:
    doc = "def f(x):█\n\ndef g():\n    pass\n"
    assert cut(doc, "\n    return x\n\ndef h():\n    pass\n") == "\n    return x\n"


def test_closing_brace_kept_when_the_suffix_lacks_it() -> None:
    doc = "function f() {\n  if (x) {█\n  return 1;\n}\n"
    assert cut(doc, "\n    y();\n  }\n  z();\n", "javascript") == "\n    y();\n  }"


def test_closing_brace_dropped_when_the_suffix_has_it() -> None:
    doc = "function f() {█\n}\n"
    assert cut(doc, "\n  y();\n}\n\nfunction g() {}\n", "javascript") == "\n  y();"


def test_end_of_file_may_finish_enclosing_blocks_but_not_go_top_level() -> None:
    doc = "def f(xs):\n    for x in xs:\n        █"
    raw = "print(x)\n    return None\n\nf([])\n"
    assert cut(doc, raw) == "print(x)\n    return None\n"


def test_dedented_header_needed_by_the_suffix() -> None:
    doc = "def f(x):\n    if x:\n        return 1\n█\n        return 2\n"
    assert cut(doc, "    else:\n        return 2\n") == "    else:\n        return 2\n"


def test_comment_lines_do_not_end_the_scope() -> None:
    doc = "int main() {\n  for (;;) {\n    █\n  }\n}\n"
    raw = "a();\n//  debug();\n    b();\n  }\n}\n"
    assert cut(doc, raw, "c") == "a();\n//  debug();\n    b();"
    assert cut("def f():\n    █\n", "a()\n# note\n    b()\nc()\n") == "a()\n# note\n    b()"
