"""Qwen2.5-Coder fill-in-the-middle prompts, built as token ids within exact token budgets.

Layout (repository-level FIM, what the model was trained on)::

    <|repo_name|>{repo}\\n
    <|file_sep|>{path}\\n{snippet}\\n          (repository context, stable order)
    <|file_sep|>{current path}\\n
    <|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>

Text is tokenized without special-token parsing and the special ids are inserted as integers, so text
that happens to contain `<|fim_prefix|>` cannot inject a marker. Stable parts come first so that the
KV cache prefix survives keystrokes; the prefix window starts on a line boundary that is kept while it
still fits (a hint from the previous request), so typing does not slide it on every keystroke.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from qwen_ls import qwen
from qwen_ls.engine.base import EngineError, Tokenizer


@dataclass(frozen=True)
class PromptSettings:
    """Token budgets of the prompt (the `completion` settings that shape it)."""

    #: All prompt tokens together: repository context, text before and after the cursor, markers.
    max_prompt_tokens: int = 2048
    #: Most tokens of text before the cursor (3/4 of what context leaves, up to this).
    prefix_tokens: int = 768
    #: Most tokens of text after the cursor; on a CPU each one is re-evaluated on every keystroke.
    suffix_tokens: int = 256
    #: Most tokens of repository context; it gets what the prefix and suffix leave, up to this.
    context_tokens: int = 1024

    def validate(self) -> list[str]:
        problems = []
        if self.max_prompt_tokens < 64:
            problems.append("maxPromptTokens must be at least 64")
        if self.prefix_tokens < 16:
            problems.append("prefixTokens must be at least 16")
        if self.suffix_tokens < 0 or self.context_tokens < 0:
            problems.append("suffixTokens and contextTokens must not be negative")
        return problems


@dataclass(frozen=True)
class ContextPiece:
    """One piece of repository context as the prompt renders it."""

    path: str
    text: str


@dataclass(frozen=True)
class Window:
    """The part of the current document that goes into the prompt."""

    prefix: str
    suffix: str
    #: character offsets of the window in the document: [start, end)
    start: int
    end: int
    #: 0-based line where the prefix window starts (the hint for the next request)
    start_line: int
    prefix_tokens: list[int]
    suffix_tokens: list[int]


@dataclass(frozen=True)
class Prompt:
    tokens: list[int]
    window: Window
    #: tokens spent per part: "header", "context", "prefix", "suffix"
    parts: dict[str, int] = field(default_factory=dict)
    #: number of leading tokens that hold the repository context and file header (the stable part)
    n_stable: int = 0


@dataclass(frozen=True)
class SpecialIds:
    fim_prefix: int
    fim_suffix: int
    fim_middle: int
    repo_name: int | None
    file_sep: int | None

    @classmethod
    def from_tokenizer(cls, tok: Tokenizer) -> SpecialIds:
        ids = qwen.special_ids(tok.special_id)
        pre, suf, mid = ids.get(qwen.FIM_PREFIX), ids.get(qwen.FIM_SUFFIX), ids.get(qwen.FIM_MIDDLE)
        if pre is None or suf is None or mid is None:
            raise EngineError("the model's vocabulary has no FIM tokens", "use a Qwen2.5-Coder base model")
        return cls(pre, suf, mid, ids.get(qwen.REPO_NAME), ids.get(qwen.FILE_SEP))


def _line_starts(text: str, start: int, end: int) -> list[int]:
    """Offsets of line starts in text[start:end] (start itself included)."""
    out = [start]
    i = text.find("\n", start, end)
    while i != -1:
        out.append(i + 1)
        i = text.find("\n", i + 1, end)
    return out


def _fit_prefix(
    tok: Tokenizer, text: str, offset: int, budget: int, hint_line: int | None
) -> tuple[int, list[int]]:
    """Start offset (a line start) of the longest prefix ending at `offset` within `budget` tokens."""
    line_start = text.rfind("\n", 0, offset) + 1
    starts = _line_starts(text, 0, line_start)  # candidate starts, last one = current line start
    if line_start not in starts:
        starts.append(line_start)
    # Keep the previous window start while it still fits: the KV cache holds it.
    if hint_line is not None and 0 <= hint_line < len(starts):
        toks = tok.tokenize(text[starts[hint_line] : offset])
        if len(toks) <= budget:
            return starts[hint_line], toks
    # Fresh start: leave ~10% room so the window survives a while of typing.
    target = max(1, int(budget * 0.9)) if hint_line is not None or budget > 64 else budget
    # Estimate from the back with per-line counts, then confirm on the joined text (BPE merges across lines).
    idx = len(starts) - 1
    acc = len(tok.tokenize(text[starts[idx] : offset]))
    while idx > 0:
        n = len(tok.tokenize(text[starts[idx - 1] : starts[idx]]))
        if acc + n > target:
            break
        acc += n
        idx -= 1
    while True:
        toks = tok.tokenize(text[starts[idx] : offset])
        if len(toks) <= budget or idx == len(starts) - 1:
            break
        idx += 1
    if len(toks) > budget:
        # a single current line longer than the budget: keep its end (cut inside the line)
        toks = toks[-budget:]
        return offset - len(tok.detokenize(toks)), toks
    return starts[idx], toks


def _fit_suffix(tok: Tokenizer, text: str, offset: int, budget: int) -> tuple[int, list[int]]:
    """End offset of the longest suffix starting at `offset` within `budget` tokens, cut at a line end."""
    if budget <= 0 or offset >= len(text):
        return offset, []
    # candidate ends: each newline after the cursor (the suffix keeps whole lines), then the end of text
    ends = [i - 1 for i in _line_starts(text, offset, len(text))[1:]]
    ends.append(len(text))
    best: tuple[int, list[int]] | None = None
    for end in ends:
        toks = tok.tokenize(text[offset:end])
        if len(toks) > budget:
            break
        best = (end, toks)
    if best is None:
        # the rest of the current line alone is over budget: keep its beginning
        toks = tok.tokenize(text[offset : ends[0]])[:budget]
        return offset + len(tok.detokenize(toks)), toks
    return best


def build_window(
    tok: Tokenizer,
    text: str,
    offset: int,
    prefix_budget: int,
    suffix_budget: int,
    hint_line: int | None = None,
) -> Window:
    """Cut the document around the cursor to the prefix and suffix budgets, on line boundaries."""
    if not 0 <= offset <= len(text):
        raise ValueError(f"offset {offset} outside the document (0..{len(text)})")
    start, prefix_toks = _fit_prefix(tok, text, offset, prefix_budget, hint_line)
    end, suffix_toks = _fit_suffix(tok, text, offset, suffix_budget)
    start_line = text.count("\n", 0, start)
    return Window(
        prefix=text[start:offset],
        suffix=text[offset:end],
        start=start,
        end=end,
        start_line=start_line,
        prefix_tokens=prefix_toks,
        suffix_tokens=suffix_toks,
    )


def header_tokens(tok: Tokenizer, ids: SpecialIds, repo_name: str) -> list[int]:
    if ids.repo_name is None:
        return []
    return [ids.repo_name, *tok.tokenize(f"{repo_name}\n")]


def context_tokens(tok: Tokenizer, ids: SpecialIds, pieces: Sequence[ContextPiece]) -> list[int]:
    out: list[int] = []
    if ids.file_sep is None:
        return out
    for piece in pieces:
        out.append(ids.file_sep)
        out.extend(tok.tokenize(f"{piece.path}\n{piece.text}\n"))
    return out


def fim_tokens(ids: SpecialIds, prefix: Sequence[int], suffix: Sequence[int]) -> list[int]:
    """File-level FIM: `<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>` (the tail of every
    prompt, and the whole of a repair's fill-in-the-middle rewrite)."""
    return [ids.fim_prefix, *prefix, ids.fim_suffix, *suffix, ids.fim_middle]


def fim_rewrite(tok: Tokenizer, prefix: str, suffix: str, budget: int) -> list[int]:
    """A file-level FIM prompt of at most `budget` tokens: prefix cut from the left, suffix from the
    right, keeping about 3:1. Raises `EngineError` for a vocabulary without FIM tokens."""
    ids = SpecialIds.from_tokenizer(tok)
    pre, suf = tok.tokenize(prefix), tok.tokenize(suffix)
    room = max(budget - 3, 0)
    if len(pre) + len(suf) > room:
        keep_suf = min(len(suf), room // 4)
        keep_pre = min(len(pre), room - keep_suf)
        pre, suf = pre[len(pre) - keep_pre :], suf[:keep_suf]
    return fim_tokens(ids, pre, suf)


def assemble(
    tok: Tokenizer,
    ids: SpecialIds,
    *,
    repo_name: str,
    path: str,
    window: Window,
    context: Sequence[ContextPiece] = (),
) -> Prompt:
    """The final token list: repository header, context, current file, FIM markers."""
    head = header_tokens(tok, ids, repo_name)
    ctx = context_tokens(tok, ids, context)
    file_head = ([ids.file_sep, *tok.tokenize(f"{path}\n")]) if ids.file_sep is not None else []
    tokens = [*head, *ctx, *file_head, *fim_tokens(ids, window.prefix_tokens, window.suffix_tokens)]
    parts = {
        "header": len(head) + len(file_head) + 3,
        "context": len(ctx),
        "prefix": len(window.prefix_tokens),
        "suffix": len(window.suffix_tokens),
    }
    return Prompt(tokens=tokens, window=window, parts=parts, n_stable=len(head) + len(ctx) + len(file_head))


def budgets(settings: PromptSettings, suffix_cap: int | None = None) -> tuple[int, int]:
    """Prefix and suffix budgets: the window gets what is left after reserving the context budget,
    3/4 prefix and 1/4 suffix (llama.cpp's split), each capped by its own setting."""
    local = max(32, settings.max_prompt_tokens - settings.context_tokens - 32)
    prefix = min(settings.prefix_tokens, max(16, local * 3 // 4))
    suffix = min(settings.suffix_tokens, local - prefix if local > prefix else 0)
    if suffix_cap is not None:
        suffix = min(suffix, suffix_cap)
    return prefix, max(0, suffix)


def context_budget(
    settings: PromptSettings, tok: Tokenizer, ids: SpecialIds, repo: str, path: str, window: Window
) -> int:
    """Tokens left for repository context once the window and the headers are counted."""
    fixed = len(header_tokens(tok, ids, repo)) + len(tok.tokenize(f"{path}\n")) + 4
    left = settings.max_prompt_tokens - fixed - len(window.prefix_tokens) - len(window.suffix_tokens)
    return max(0, min(settings.context_tokens, left))
