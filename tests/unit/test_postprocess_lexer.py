"""The bracket/string scanner used by the filters."""

from __future__ import annotations

from qwen_ls.postprocess.lexer import C_LIKE, PYTHON, scan, state_at_end, syntax_for


def test_depth_and_first_unmatched_closer() -> None:
    sc = scan("a, (b)) + c", C_LIKE)
    assert sc.first_unmatched == 6 and sc.unmatched_char == ")"
    assert sc.depth == -1


def test_brackets_in_strings_and_comments_are_ignored() -> None:
    assert scan('"(" + x // )\n', C_LIKE).first_unmatched is None
    assert scan("'(' /* ) */ + y", C_LIKE).first_unmatched is None
    assert scan("'(' # )\n", PYTHON).first_unmatched is None


def test_python_triple_quoted_string_spans_lines() -> None:
    sc = scan('"""a\n)\n"""\nx)', PYTHON)
    assert sc.newline_in_literal[:2] == [True, True]
    assert sc.first_unmatched == len('"""a\n)\n"""\nx')


def test_closing_quote_of_string_open_before_the_cursor_is_unmatched() -> None:
    state = state_at_end('print("hello ', PYTHON)
    assert state.quote == '"'
    sc = scan('world")', PYTHON, state)
    assert sc.unmatched[:2] == [(5, '"'), (6, ")")]


def test_rust_lifetime_is_not_a_char_literal() -> None:
    rust = syntax_for("rust")
    assert scan("fn f<'a>(x: &'a str) -> &'a str { x }", rust, language="rust").depth == 0
    assert scan("c == '(' || c == ')'", rust, language="rust").first_unmatched is None


def test_newline_depths() -> None:
    sc = scan("f(a,\n  b)\n", C_LIKE)
    assert sc.newline_depths == [1, 0]
