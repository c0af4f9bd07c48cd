"""A cursor mid-line with code to its right."""

from __future__ import annotations

from qwen_ls.postprocess import CompletionContext
from qwen_ls.postprocess.cursor import cursor_from
from qwen_ls.postprocess.right_text import fit_before_right


def fit(document: str, raw: str, language: str = "python") -> tuple[str, int]:
    prefix, suffix = document.split("█")
    return fit_before_right(raw, cursor_from(CompletionContext(prefix, suffix, language)))


def test_only_the_first_line() -> None:
    assert fit("f(█)\n", "a)\nmore()\n") == ("a)", 1)


def test_auto_closed_bracket_is_covered_not_duplicated() -> None:
    assert fit("print(█)\n", "x)") == ("x)", 1)
    assert fit("print(█)\n", "x") == ("x", 0)


def test_stops_at_the_closer_that_matches_the_right_text() -> None:
    assert fit("f(█)\n", "a, g(b)) + 1") == ("a, g(b))", 1)


def test_closer_of_another_prefix_bracket_does_not_stop() -> None:
    # `[` opened before the cursor is closed by the completion; `}` to the right closes its own `{`
    assert fit("        [█}\n", 'Flux("E")] void E() {', "csharp") == ('Flux("E")] void E() {', 0)


def test_repeat_of_the_right_text_is_cut() -> None:
    assert fit("x = compute(█, b)\n", "a, b)") == ("a", 0)
    assert fit("    public █ get; set; }\n", "string Name { get; set; } = x;", "csharp") == (
        "string Name {",
        0,
    )


def test_short_punctuation_to_the_right_ends_the_completion() -> None:
    assert fit("int x = █;\n", "count; // (see above)", "c") == ("count", 0)
    assert fit("Name: █,\n", '"server",', "go") == ('"server"', 0)


def test_string_closed_by_the_editor() -> None:
    assert fit('print("hello █")\n', 'world")') == ('world")', 2)


def test_nothing_when_the_model_ends_the_line() -> None:
    assert fit("f(█)\n", "\nother()") == ("", 0)
