"""Single-line mode: the end of one statement."""

from __future__ import annotations

from qwen_ls.postprocess import CompletionContext
from qwen_ls.postprocess.cursor import cursor_from
from qwen_ls.postprocess.statement import statement_end


def end(document: str, raw: str, language: str = "python", final: bool = True) -> str | None:
    prefix, suffix = document.split("█")
    k = statement_end(raw, cursor_from(CompletionContext(prefix, suffix, language)), final=final)
    return None if k is None else raw[:k]


def test_first_line() -> None:
    assert end("x = █\n", "1\ny = 2\n") == "1"


def test_open_brackets_continue() -> None:
    assert end("x = f(█\n", "a,\n      b)\ny = 2\n") == "a,\n      b)"


def test_trailing_operator_and_backslash_continue() -> None:
    assert end("x = █\n", "a +\\\n    b\nc\n") == "a +\\\n    b"
    assert end("let x = █\n", "a &&\n  b;\nfoo();\n", "javascript") == "a &&\n  b;"


def test_leading_dot_continues_in_brace_languages() -> None:
    assert end("x = █\n", "fetch(u)\n  .then(f);\ng();\n", "javascript") == "fetch(u)\n  .then(f);"


def test_undecided_while_streaming_until_the_next_line_starts() -> None:
    assert end("x = █\n", "fetch(u)\n", "javascript", final=False) is None
    assert end("x = █\n", "fetch(u)\n", "javascript", final=True) == "fetch(u)"


def test_block_header_ends_a_mid_line_statement() -> None:
    assert end("items.forEach(█\n", "(x) => {\n  f(x);\n});\n", "javascript") == "(x) => {"


def test_compound_statement_on_a_blank_line_brings_its_block() -> None:
    doc = "def f(xs):\n    t = 0\n    █\n    return t\n"
    assert end(doc, "for x in xs:\n        t += x\n    return t\n") == "for x in xs:\n        t += x"
    doc = "int f() {\n  int s = 0;\n  █\n  return s;\n}\n"
    raw = "if (a) {\n    s = 1;\n  } else {\n    s = 2;\n  }\n  return s;\n"
    assert end(doc, raw, "c") == "if (a) {\n    s = 1;\n  } else {\n    s = 2;\n  }"


def test_allman_brace_comes_with_the_header() -> None:
    assert end("void Run(█\n", "int x)\n{\n  f();\n", "java") == "int x)\n{"


def test_comment_line_does_not_end_it() -> None:
    assert end("def f():\n    █\n    return 1\n", "# note\n    x = 1\n    y = 2\n") == "# note\n    x = 1"


def test_model_ending_the_line_gives_nothing() -> None:
    assert end("x = foo█\n", "\nbar()\n") == ""
