"""Stability: keep the context part of the prompt the same across keystrokes so the KV cache survives.

While the cursor stays in the same region and the identifiers around it do not change much, the
previous selection is returned as is. When a re-rank happens, snippets that survive keep their
previous relative order and new ones are appended after them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from qwen_ls.context.index import FileRecord
from qwen_ls.context.symbols import identifiers
from qwen_ls.context.types import Snippet

#: Lines above (and below) the cursor whose identifiers say which code the cursor is at.
TERMS_ABOVE = 6
TERMS_BELOW = 1
#: A selection is kept while the cursor moved at most this many lines ...
MAX_LINE_MOVE = 8
#: ... and the identifiers around it are this similar (Jaccard) to those it was made for.
MIN_TERMS_SIMILARITY = 0.6
#: A budget that grew past `previous * BUDGET_GROWTH + BUDGET_SLACK` deserves a re-rank.
BUDGET_GROWTH = 1.25
BUDGET_SLACK = 16


@dataclass
class Selection:
    """The snippets last chosen for one document, and what they were chosen for."""

    line: int
    terms: frozenset[str]
    budget: int
    snippets: tuple[Snippet, ...]
    versions: dict[str, int] = field(default_factory=dict)  # index version of each file used
    ready: bool = True  # made with a complete index


def near_terms(lines: Sequence[str], line: int, typed: str) -> frozenset[str]:
    """Complete identifiers around the cursor (the word being typed left out)."""
    words: set[str] = set()
    for i in range(max(0, line - TERMS_ABOVE), min(len(lines), line + TERMS_BELOW + 1)):
        if i == line:
            head = re.sub(r"[\w$]+$", "", typed)
            words.update(identifiers(head))
        else:
            words.update(identifiers(lines[i]))
    return frozenset(words)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / max(1, len(a | b))


def can_keep(
    last: Selection,
    line: int,
    terms: frozenset[str],
    budget: int,
    index_ready: bool,
    files: Mapping[str, FileRecord],
) -> bool:
    """Whether the previous selection still serves the cursor (and every file it used is unchanged)."""
    # the kept selection must still fit; a budget that grew a lot deserves a re-rank
    used = sum(s.tokens for s in last.snippets)
    if (
        used > budget
        or budget > last.budget * BUDGET_GROWTH + BUDGET_SLACK
        or abs(line - last.line) > MAX_LINE_MOVE
    ):
        return False
    if jaccard(terms, last.terms) < MIN_TERMS_SIMILARITY or (index_ready and not last.ready):
        return False
    for p, version in last.versions.items():
        record = files.get(p)
        if record is None or record.version != version:
            return False
    return True


def stable_order(last: Selection | None, snippets: tuple[Snippet, ...]) -> tuple[Snippet, ...]:
    """Survivors of the previous selection first, in their previous order; then the new ones."""
    if last is None:
        return snippets
    new_by_key = {(s.path, s.start_line, s.end_line, s.text): s for s in snippets}
    kept = []
    for s in last.snippets:
        k = (s.path, s.start_line, s.end_line, s.text)
        if k in new_by_key:
            kept.append(new_by_key.pop(k))
    rest = [s for s in snippets if (s.path, s.start_line, s.end_line, s.text) in new_by_key]
    return tuple(kept + rest)
