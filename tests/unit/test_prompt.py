"""Prompt assembly: layout, exact budgets on line boundaries, stable windows, no marker injection."""

from __future__ import annotations

import pytest

from qwen_ls import qwen
from qwen_ls.prompt import (
    ContextPiece,
    PromptSettings,
    SpecialIds,
    assemble,
    budgets,
    build_window,
    context_budget,
)
from tests.helpers import FakeTokenizer

TEXT = "".join(f"line_{i} = compute({i}, value_{i})\n" for i in range(200))


@pytest.fixture
def tok() -> FakeTokenizer:
    return FakeTokenizer()


def test_layout_is_repo_level_fim(tok: FakeTokenizer) -> None:
    ids = SpecialIds.from_tokenizer(tok)
    offset = TEXT.index("line_100")
    window = build_window(tok, TEXT, offset, 100, 40)
    prompt = assemble(
        tok,
        ids,
        repo_name="myrepo",
        path="pkg/mod.py",
        window=window,
        context=[ContextPiece("pkg/other.py", "x = 1")],
    )
    t = prompt.tokens
    assert t[0] == qwen.SPECIAL_IDS[qwen.REPO_NAME]
    assert tok.detokenize(t[1:3]) == "myrepo\n" or tok.detokenize(t[1:]).startswith("myrepo\n")
    seps = [i for i, x in enumerate(t) if x == qwen.SPECIAL_IDS[qwen.FILE_SEP]]
    assert len(seps) == 2
    assert tok.detokenize(t[seps[0] + 1 : seps[1]]) == "pkg/other.py\nx = 1\n"
    pre, suf, mid = (
        t.index(qwen.SPECIAL_IDS[x]) for x in (qwen.FIM_PREFIX, qwen.FIM_SUFFIX, qwen.FIM_MIDDLE)
    )
    assert seps[1] < pre < suf < mid == len(t) - 1
    assert tok.detokenize(t[seps[1] + 1 : pre]) == "pkg/mod.py\n"
    assert tok.detokenize(t[pre + 1 : suf]) == window.prefix
    assert tok.detokenize(t[suf + 1 : mid]) == window.suffix
    assert prompt.n_stable == pre


def test_window_fits_budget_exactly_and_cuts_on_lines(tok: FakeTokenizer) -> None:
    offset = TEXT.index("line_150") + 4  # mid-line cursor
    window = build_window(tok, TEXT, offset, 120, 50)
    assert len(tok.tokenize(window.prefix)) <= 120
    assert len(tok.tokenize(window.suffix)) <= 50
    assert window.prefix_tokens == tok.tokenize(window.prefix)
    assert window.start == 0 or TEXT[window.start - 1] == "\n"
    assert window.end == len(TEXT) or TEXT[window.end] == "\n"
    assert window.prefix.endswith("line")
    assert TEXT[window.start : window.end] == window.prefix + window.suffix
    # nearly the whole budget is used
    assert len(tok.tokenize(window.prefix)) > 120 * 0.75


def test_window_start_is_kept_while_typing(tok: FakeTokenizer) -> None:
    offset = TEXT.index("line_150")
    first = build_window(tok, TEXT, offset, 200, 30)
    text = TEXT
    start_line = first.start_line
    for ch in "abc_def":
        text = text[:offset] + ch + text[offset:]
        offset += 1
        window = build_window(tok, text, offset, 200, 30, hint_line=start_line)
        assert window.start_line == start_line  # the KV cache keeps the window's head
        start_line = window.start_line


def test_marker_text_in_source_is_not_a_marker(tok: FakeTokenizer) -> None:
    ids = SpecialIds.from_tokenizer(tok)
    text = 's = "<|fim_prefix|>"\n'
    window = build_window(tok, text, len(text), 100, 10)
    prompt = assemble(tok, ids, repo_name="r", path="a.py", window=window)
    assert prompt.tokens.count(ids.fim_prefix) == 1


def test_long_single_line_is_cut_inside(tok: FakeTokenizer) -> None:
    text = "x = [" + ", ".join(str(i) for i in range(500))
    window = build_window(tok, text, len(text), 64, 16)
    assert len(window.prefix_tokens) <= 64
    assert text.endswith(window.prefix)


def test_offset_outside_document(tok: FakeTokenizer) -> None:
    with pytest.raises(ValueError):
        build_window(tok, "abc", 10, 10, 10)


def test_budgets_split_and_context_gets_the_rest(tok: FakeTokenizer) -> None:
    s = PromptSettings(
        max_prompt_tokens=2048, prefix_tokens=10_000, suffix_tokens=10_000, context_tokens=1024
    )
    prefix, suffix = budgets(s)
    assert prefix + suffix <= 2048 - 1024
    assert prefix == 3 * suffix or abs(prefix - 3 * suffix) <= 3
    assert budgets(s, suffix_cap=32)[1] == 32
    ids = SpecialIds.from_tokenizer(tok)
    window = build_window(tok, "x = 1\n", 3, prefix, suffix)
    assert context_budget(s, tok, ids, "r", "a.py", window) == 1024  # a small file leaves the whole reserve
