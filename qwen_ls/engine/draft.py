"""Drafters for speculative decoding: cheap guesses of the next tokens that the target model verifies.

A drafter sees the whole token context of a generation (prompt plus the tokens generated so far) and
proposes up to `k` next tokens. The engine evaluates the last token and the draft in one batch, keeps
the longest prefix its own greedy choice agrees with, and rolls the KV cache back past the rest
(`qwen_ls.engine.speculative`), so a drafter can never change the output, only the number of passes.

`PromptLookupDrafter` finds the longest recent n-gram of the context earlier in the context (the prompt,
or text generated so far) and proposes what followed it there. Code completions copy a lot of what the
prompt already holds (the suffix of the line, a sibling call, an argument list). A draft *model* (a
0.5B model drafting for a 7B target) fits the same `Drafter` protocol: it would keep its own llama
context and answer `draft` from it; verification stays the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Drafter(Protocol):
    """Proposes the next tokens of a generation. Called from the engine's worker thread only."""

    #: Short name for logs and benchmarks ("prompt-lookup", later "model:<name>").
    name: str

    def draft(self, context: Sequence[int], k: int) -> list[int]:
        """Up to `k` tokens that may follow `context` (possibly none). Must not modify `context`."""
        ...


@dataclass(frozen=True)
class LookupSettings:
    """How prompt lookup matches: n-grams of `n_min`..`n_max` tokens, longest first."""

    n_min: int = 2
    n_max: int = 4

    def __post_init__(self) -> None:
        if not 1 <= self.n_min <= self.n_max:
            raise ValueError(f"need 1 <= n_min <= n_max, got {self.n_min}..{self.n_max}")


class PromptLookupDrafter:
    """Prompt-lookup drafting over an incrementally maintained n-gram index.

    For the context's last n tokens (n from `n_max` down to `n_min`) it finds the most recent earlier
    occurrence and proposes the up to `k` tokens that followed it. The index maps each n-gram to the
    ends of its occurrences, in order. It follows the context: a generation appends tokens, and the next
    request (a keystroke later) shares most of its prompt with the last context, so only the n-grams
    after the first difference are removed and added (about 3 ms per 1,000 tokens indexed).
    """

    name = "prompt-lookup"

    def __init__(self, settings: LookupSettings | None = None) -> None:
        self.settings = settings or LookupSettings()
        self._seen: list[int] = []
        #: n-gram -> ends (exclusive) of its occurrences that have a token after them, ascending
        self._index: dict[tuple[int, ...], list[int]] = {}

    def draft(self, context: Sequence[int], k: int) -> list[int]:
        if k <= 0 or len(context) < self.settings.n_min + 1:
            return []
        self._sync(context)
        end = len(context)
        for n in range(min(self.settings.n_max, end - 1), self.settings.n_min - 1, -1):
            ends = self._index.get(tuple(context[end - n : end]))
            if ends:
                found = ends[-1]
                return list(context[found : found + k])
        return []

    def reset(self) -> None:
        self._seen = []
        self._index = {}

    def _ngrams(self, e: int) -> list[tuple[int, ...]]:
        seen, s = self._seen, self.settings
        return [tuple(seen[e - n : e]) for n in range(s.n_min, min(s.n_max, e) + 1)]

    def _sync(self, context: Sequence[int]) -> None:
        """Make the index hold every n-gram of `context` that ends before its last token."""
        seen, index = self._seen, self._index
        same = 0
        limit = min(len(seen), len(context))
        while same + 64 <= limit and seen[same : same + 64] == list(context[same : same + 64]):
            same += 64
        while same < limit and seen[same] == context[same]:
            same += 1
        # remove the n-grams ending at `same` or later, newest first (each is the last of its list)
        for e in range(len(seen) - 1, max(same, 1) - 1, -1):
            for key in self._ngrams(e):
                ends = index[key]
                ends.pop()
                if not ends:
                    del index[key]
        del seen[same:]
        seen.extend(context[same:])
        for e in range(max(same, 1), len(seen)):
            for key in self._ngrams(e):
                index.setdefault(key, []).append(e)


def make_drafter(kind: str, settings: LookupSettings | None = None) -> Drafter | None:
    """The drafter a setting names ("prompt-lookup"; "off" gives None)."""
    if kind == "off":
        return None
    if kind in ("prompt-lookup", "auto"):
        return PromptLookupDrafter(settings)
    raise ValueError(f"unknown drafter {kind!r}")
