"""Single line or block, from the text around the cursor."""

from __future__ import annotations

import pytest

from qwen_ls.postprocess import CompletionContext, PostprocessSettings, decide_mode


def mode(document: str, language: str = "python", forced: str = "auto") -> str:
    prefix, suffix = document.split("█")
    forced_settings = PostprocessSettings(mode=forced)  # type: ignore[arg-type]
    return decide_mode(CompletionContext(prefix, suffix, language, forced_settings))


@pytest.mark.parametrize(
    ("document", "language", "expected"),
    [
        ("x = foo(█)\n", "python", "single"),  # mid-expression
        ("x = █\n", "python", "single"),
        ("def f(x):█\n", "python", "multi"),  # after a signature
        ("def f(x):\n    █\n", "python", "multi"),  # empty block body
        ("def f(x):\n    a = 1\n    █\n    return a\n", "python", "single"),  # a gap between statements
        ("def f(x):\n    a = 1\n    █", "python", "multi"),  # end of the file
        ("if (x) {█\n}\n", "javascript", "multi"),
        ("function f() {\n  █\n}\n", "javascript", "multi"),  # empty body
        ("function f() {\n  a();\n  █\n  b();\n}\n", "javascript", "single"),
        ("int f() {\n    █\n    return 1;\n}\n", "c", "single"),  # a body that already has code
        ("█    return 1\n", "python", "multi"),  # whole lines inserted before existing code
    ],
)
def test_auto_mode(document: str, language: str, expected: str) -> None:
    assert mode(document, language) == expected


def test_forced_modes_win() -> None:
    assert mode("def f(x):█\n", forced="single") == "single"
    assert mode("x = foo(█)\n", forced="multi") == "multi"
