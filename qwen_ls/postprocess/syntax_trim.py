"""Syntax-aware truncation with tree-sitter: among the line ends of a block completion, keep the
longest cut at which prefix + completion + suffix parses as well as prefix + suffix alone.

Only a window of lines around the cursor is parsed (both texts share it, so their error counts are
comparable), which keeps each parse well under a millisecond on large files.
"""

from __future__ import annotations

from qwen_ls import syntax

WINDOW_BEFORE = 120
WINDOW_AFTER = 60
MAX_CANDIDATES = 24


def window(prefix: str, suffix: str) -> tuple[str, str]:
    """The last WINDOW_BEFORE lines of `prefix` and the first WINDOW_AFTER lines of `suffix`."""
    start = len(prefix)
    for _ in range(WINDOW_BEFORE):
        start = prefix.rfind("\n", 0, start)
        if start == -1:
            break
    end = 0
    for _ in range(WINDOW_AFTER):
        end = suffix.find("\n", end + 1)
        if end == -1:
            end = len(suffix)
            break
    return prefix[start + 1 :], suffix[:end]


def syntax_cut(text: str, prefix: str, suffix: str, language: str | None, *, whole_lines: bool = False) -> int | None:
    """Offset of the best line-end cut of `text`, or None to keep it whole (also without a grammar).
    With `whole_lines` (lines inserted before existing code) each cut keeps its newline."""
    if "\n" not in text.rstrip() or not syntax.has_grammar(language):
        return None
    before, after = window(prefix, suffix)
    baseline = syntax.count_errors(before + after, language)
    if baseline is None:
        return None
    cands = [i for i, c in enumerate(text) if c == "\n" and text[:i].strip()]
    full = len(text.rstrip())
    if not cands or cands[-1] < full:
        cands.append(full)
    cands = cands[-MAX_CANDIDATES:]
    scores: list[tuple[int, int]] = []
    for k in cands:
        middle = text[:k] + "\n" if whole_lines else text[:k]
        errors = syntax.count_errors(before + middle + after, language)
        if errors is None:
            return None
        scores.append((errors, k))
    best = min(e for e, _ in scores)
    if best > baseline:
        return None
    k = max(k for e, k in scores if e == best)
    return None if k >= full else k
