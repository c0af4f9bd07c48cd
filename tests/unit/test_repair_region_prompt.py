"""Region selection and the prompts built from it."""

from __future__ import annotations

from qwen_ls import qwen
from qwen_ls.repair.data import Diagnostic
from qwen_ls.repair.prompt import build_chatml_prompt, build_fim_rewrite, build_messages, retry_messages
from qwen_ls.repair.region import select_regions

PY = (
    "import os\n"  # 0
    "\n"  # 1
    "def f(xs):\n"  # 2
    "    total = 0\n"  # 3
    "    for x in xs:\n"  # 4
    "        if x > 0:\n"  # 5
    "            total += x\n"  # 6
    "        else:\n"  # 7
    "            total -= 1\n"  # 8
    "    return total\n"  # 9
    "\n"  # 10
    "def g():\n"  # 11
    "    return 1\n"  # 12
)


def _diag(line: int, message: str = "problem", code: str | None = None) -> Diagnostic:
    return Diagnostic(line, 0, line, 5, message, code, "test")


def test_region_widens_to_whole_statements() -> None:
    # ±1 line around line 6 would cut the if/else; the region grows to the whole `if` statement.
    (region,) = select_regions(PY, [_diag(6)], "python", context_lines=1, max_region_lines=40)
    assert (region.start_line, region.end_line) == (5, 8)
    assert region.text(PY).startswith("        if x > 0:\n")
    assert region.end == PY.index("    return total")
    # ±2 lines cut the `for` at its header: the region grows to the whole `for`.
    (region,) = select_regions(PY, [_diag(6)], "python", context_lines=2, max_region_lines=40)
    assert (region.start_line, region.end_line) == (4, 8)


def test_region_respects_the_line_limit_but_keeps_the_diagnostic() -> None:
    (region,) = select_regions(PY, [_diag(6)], "python", context_lines=1, max_region_lines=3)
    assert region.start_line <= 6 <= region.end_line
    assert region.n_lines <= 3


def test_overlapping_diagnostics_merge_and_distant_ones_do_not() -> None:
    regions = select_regions(PY, [_diag(5), _diag(6)], "python", context_lines=0, max_region_lines=40)
    assert len(regions) == 1 and len(regions[0].diagnostics) == 2
    regions = select_regions(PY, [_diag(3), _diag(12)], "python", context_lines=0, max_region_lines=2)
    assert len(regions) == 2


def test_region_without_grammar_is_plain_lines() -> None:
    text = "a\nb\nc\nd\ne\n"
    (region,) = select_regions(text, [_diag(2)], "csharp", context_lines=1)
    assert (region.start_line, region.end_line, region.text(text)) == (1, 3, "b\nc\nd\n")


def test_missing_return_region_moves_to_the_end_of_the_function() -> None:
    text = "def f(x) -> int:\n" + "".join(f"    y{i} = {i}\n" for i in range(30)) + "\ndef g():\n    pass\n"
    (region,) = select_regions(text, [_diag(0, "Missing return statement", "return")], "python", 2, 10)
    assert region.end_line >= 30  # the last body line (30), plus the blank line after it
    assert region.start_line > 0


def test_messages_show_diagnostics_numbered_region_and_context() -> None:
    diag = _diag(6, "undefined name 'totl'", "F821")
    (region,) = select_regions(PY, [diag], "python", context_lines=1)
    system, user = build_messages(
        PY, region, "python", "pkg/mod.py", surrounding_lines=2, snippets=["def h(): ..."]
    )
    assert system.role == "system" and "fenced code block" in system.content
    assert user.role == "user"
    assert "File: pkg/mod.py (python)" in user.content
    assert "- line 7: undefined name 'totl' [test F821]" in user.content
    assert "\n7|             total += x\n" in user.content
    assert "Region to fix, lines 6-9:" in user.content
    assert "Code before the region (read-only)" in user.content and "\n4|     total = 0\n" in user.content
    assert "\n11|\n" in user.content  # blank lines carry no trailing space
    assert "def h(): ..." in user.content
    assert "```python" in user.content


def test_chatml_and_retry() -> None:
    (region,) = select_regions(PY, [_diag(6)], "python")
    messages = build_messages(PY, region, "python")
    text = build_chatml_prompt(retry_messages(messages, "```python\nx\n```", "the fix adds syntax errors"))
    assert text.startswith(f"{qwen.IM_START}system\n")
    assert text.count(qwen.IM_START) == 5 and text.count(qwen.IM_END) == 4
    assert text.endswith(f"{qwen.IM_START}assistant\n")
    assert "That fix was rejected: the fix adds syntax errors." in text


def test_fim_rewrite_splits_around_the_region_with_a_hint() -> None:
    diag = _diag(6, "expected ':'")
    (region,) = select_regions(PY, [diag], "python", context_lines=0)
    fim = build_fim_rewrite(PY, region, "python", max_tokens=100)
    assert fim.prefix.startswith(PY[: region.start])
    assert fim.prefix.endswith("# fixed: expected ':'\n")
    assert fim.suffix == PY[region.end :]
    assert fim.original == region.text(PY)
    java = "class A {\n  int f() {\n    return 1\n  }\n}\n"
    (region,) = select_regions(java, [Diagnostic(2, 0, 2, 5, "';' expected")], "java", context_lines=0)
    assert "// fixed: ';' expected" in build_fim_rewrite(java, region, "java", 50).prefix
