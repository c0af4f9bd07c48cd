"""The public API the server calls: postprocess, StreamStopper, decide_mode, settings."""

from __future__ import annotations

from qwen_ls.postprocess import (
    CompletionContext,
    PostprocessSettings,
    Processed,
    StreamStopper,
    postprocess,
)
from qwen_ls.settings_util import from_mapping


def ctx(document: str, language: str | None = "python", mode: str = "auto") -> CompletionContext:
    prefix, suffix = document.split("█")
    return CompletionContext(prefix, suffix, language, PostprocessSettings(mode=mode))  # type: ignore[arg-type]


def test_repeated_next_line_and_auto_closed_paren() -> None:
    """The issue's end-to-end scenario, at the API level: raw text that closes the auto-closed `)`
    and then repeats the following line comes back as the call's arguments with a range over `)`."""
    c = ctx("def main():\n    print(█)\n    return 0\n")
    got = postprocess("'hi')\n    return 0\n", c)
    assert got == Processed("'hi')", replace_end=1, reason="right-text", multiline=False)


def test_empty_and_whitespace_have_reasons() -> None:
    c = ctx("x = 1\n█\n")
    assert postprocess("", c).reason == "empty"
    assert postprocess("<|endoftext|>", c).reason == "empty"
    assert postprocess("  \n\t", c) == Processed("", reason="whitespace", multiline=True)


def test_multiline_flag_follows_the_mode() -> None:
    assert postprocess("\n    return 1", ctx("def f():█\n")).multiline
    assert not postprocess("1", ctx("x = █\n")).multiline


def test_unknown_language_still_gets_the_line_rules() -> None:
    got = postprocess("foo(1)\nbar()\n", ctx("x = █\n", language=None))
    assert got.text == "foo(1)"
    got = postprocess("foo(1)\nbar()\n", ctx("x = █\n", language="haskell"))
    assert got.text == "foo(1)"


def test_stream_stopper_single_line_stops_at_the_first_newline() -> None:
    stopper = StreamStopper(ctx("x = █\ny = 2\n"))
    assert stopper.feed("compute(")
    assert stopper.feed("compute(a)")
    assert not stopper.feed("compute(a)\ny")
    assert not stopper.feed("compute(a)\ny = 3")  # stays stopped
    assert stopper.finish("compute(a)\ny").text == "compute(a)"


def test_stream_stopper_stops_on_a_stop_token_and_holds_partial_ones() -> None:
    stopper = StreamStopper(ctx("def f():\n    █", language="python"))
    assert stopper.feed("return 1<|fim")
    assert not stopper.feed("return 1<|fim_pad|>")


def test_stream_stopper_block_stops_at_the_dedent() -> None:
    stopper = StreamStopper(ctx("def f(x):█\n\nprint(f(1))\n"))
    text = ""
    for piece in ["\n", "    y = x\n", "    return y\n", "\n", "def g", "():\n"]:
        text += piece
        if not stopper.feed(text):
            break
    assert text.endswith("def g():\n")
    assert stopper.finish(text).text == "\n    y = x\n    return y"


def test_stream_stopper_keeps_going_for_closing_lines_the_suffix_lacks() -> None:
    prefix = "function f(xs) {\n  xs.forEach((x) => {\n    g(x, █"
    c = ctx(prefix + "\n\nexport const z = 1;\n", language="javascript")
    stopper = StreamStopper(c)
    raw = "1)\n  })\n}\n\nexport function h() {\n"
    seen = ""
    for ch in raw:
        seen += ch
        if not stopper.feed(seen):
            break
    assert seen.startswith("1)\n  })\n}")
    assert stopper.finish(seen).text == "1)\n  })\n}"


def test_settings_from_json() -> None:
    settings, warnings = from_mapping(
        PostprocessSettings, {"mode": "multi", "maxLines": 3, "syntaxAware": False}
    )
    assert settings == PostprocessSettings("multi", 3, False) and warnings == []
    settings, warnings = from_mapping(PostprocessSettings, {"mode": "sometimes", "maxLines": -1})
    assert settings.mode == "auto" and len(warnings) == 2


def test_max_lines_limits_blocks() -> None:
    c = CompletionContext.from_settings("def f():", "\n", "python", PostprocessSettings(max_lines=2))
    assert postprocess("\n    a = 1\n    b = 2\n    return a + b", c).text == "\n    a = 1"


def test_syntax_aware_off() -> None:
    c = CompletionContext.from_settings(
        "def f(x):\n    ", "\n", "python", PostprocessSettings(syntax_aware=False)
    )
    assert postprocess("y = x\n    return (y", c).text == "y = x\n    return (y"
    c = CompletionContext("def f(x):\n    ", "\n", "python")
    assert postprocess("y = x\n    return (y", c).text == "y = x"


def test_reasons_for_empty_completions() -> None:
    assert postprocess("\nnext()", ctx("f(█)\n")).reason == "ends-at-cursor"
    assert postprocess("\nnext()", ctx("x = foo█\n")).reason == "ends-at-cursor"
    assert postprocess("y = 2\n", ctx("x = 1\n█\ny = 2\n")).reason == "repeats-suffix"
    assert postprocess("a, b)", ctx("f(█a, b)\n")).reason == "repeats-suffix"
