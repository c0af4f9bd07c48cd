"""Ranking and packing: the best candidates that fit the token budget, in prompt order.

Candidates are taken best first; overlapping contiguous snippets keep only their uncovered lines, a
snippet too long for the room left is cut (real lines) or focused on the cursor's identifiers (an
outline), and the chosen ones go into the prompt best last, closest to the cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from qwen_ls.context.settings import ContextSettings
from qwen_ls.context.sources.base import Candidate
from qwen_ls.context.symbols import IDENT_RE


class Packer:
    """Packs candidates into a budget, counting tokens the way the prompt will be rendered."""

    def __init__(
        self,
        settings: ContextSettings,
        count_tokens: Callable[[str], int],
        snippet_tokens: Callable[[str, str], int],
        rel_key: Callable[[str], str],
    ) -> None:
        self.settings = settings
        self.count_tokens = count_tokens  # tokens of a text
        self.snippet_tokens = snippet_tokens  # tokens of a snippet (relative path, text), header included
        self.rel_key = rel_key  # absolute path -> the path shown in the prompt

    def pack(
        self, candidates: list[Candidate], budget: int, terms: Mapping[str, float]
    ) -> list[tuple[Candidate, int]]:
        """The chosen candidates with their token counts, best last; `terms` (the BM25 query) says
        which rows of an outline too long for the room are worth keeping."""
        s = self.settings
        chosen: list[tuple[Candidate, int]] = []
        taken: dict[str, list[tuple[int, int]]] = {}
        seen_text: set[str] = set()
        used = 0
        for cand in sorted(candidates, key=lambda c: -c.score):
            if len(chosen) >= s.max_snippets or budget - used < s.min_snippet_tokens:
                break
            body = "\n".join(cand.lines).strip("\n")
            if not body.strip() or body in seen_text:
                continue
            fitted = self._fit(cand, body, taken.get(cand.path, []), budget - used, terms)
            if fitted is None:
                continue
            cand, body, tokens = fitted
            seen_text.add(body)
            if cand.contiguous:
                taken.setdefault(cand.path, []).append((cand.start, cand.end))
            chosen.append((cand, tokens))
            used += tokens
        # prompt order: best last (closest to the cursor)
        chosen.sort(key=lambda ct: ct[0].score)
        return chosen

    def _fit(
        self, cand: Candidate, body: str, spans: list[tuple[int, int]], room: int, terms: Mapping[str, float]
    ) -> tuple[Candidate, str, int] | None:
        """The candidate as it goes in (its lines no chosen snippet of its file covers, cut or focused
        to fit `room`), its text and its tokens; None when nothing worth sending fits."""
        if cand.contiguous and spans:
            cut = uncovered_run(cand.start, cand.end, spans)
            if cut is None:
                return None
            a, b = cut
            if (a, b) != (cand.start, cand.end):
                lines = cand.lines[a - cand.start : b - cand.start + 1]
                cand = Candidate(cand.path, a, b, lines, cand.source, cand.score, cand.reason)
                body = "\n".join(lines).strip("\n")
                if not body.strip():
                    return None
        rel = self.rel_key(cand.path)
        tokens = self.snippet_tokens(rel, body)
        if tokens <= room:
            return cand, body, tokens
        if not cand.contiguous:
            focused = self._focus(rel, cand, room, terms)
            if focused is None:
                return None
            cand, body = focused, "\n".join(focused.lines).strip("\n")
        else:
            cand_lines = self._truncate(rel, cand.lines, room)
            if cand_lines is None:
                return None
            cand = Candidate(
                cand.path,
                cand.start,
                cand.start + len(cand_lines) - 1,
                cand_lines,
                cand.source,
                cand.score,
                cand.reason + " (cut to fit)",
            )
            body = "\n".join(cand_lines).strip("\n")
        tokens = self.snippet_tokens(rel, body)
        if tokens > room:
            return None
        return cand, body, tokens

    def _focus(self, rel: str, cand: Candidate, room: int, terms: Mapping[str, float]) -> Candidate | None:
        """An outline too long for the room left: keep the entries that mention identifiers of the code
        before the cursor, with their neighbours (a constant's siblings are what follows it), in file
        order; with no such entries this is the outline's beginning."""
        if room < self.settings.min_snippet_tokens:
            return None
        rows = cand.lines
        weights = [sum(terms.get(w, 0.0) for w in set(IDENT_RE.findall(r))) for r in rows]
        order = sorted(range(len(rows)), key=lambda i: (-weights[i], i))
        cost = 2 + self.count_tokens(rel)
        keep: set[int] = set()
        full = False
        for i in order:
            for j in (i, i + 1, i - 1, i + 2):
                if j < 0 or j >= len(rows) or j in keep:
                    continue
                c = self.count_tokens(rows[j]) + 1
                if cost + c > room:
                    full = True
                    break
                keep.add(j)
                cost += c
            if full:
                break
        while keep:
            lines = [rows[i] for i in sorted(keep)]
            if self.snippet_tokens(rel, "\n".join(lines)) <= room:
                break
            keep.discard(min(keep, key=lambda i: (weights[i], -i)))
        if len(keep) < 2:
            return None
        lines = [rows[i] for i in sorted(keep)]
        return Candidate(
            cand.path,
            cand.start,
            cand.end,
            lines,
            cand.source,
            cand.score,
            cand.reason + " (focused on the cursor's identifiers)",
            False,
        )

    def _truncate(self, rel: str, lines: list[str], room: int) -> list[str] | None:
        if room < self.settings.min_snippet_tokens:
            return None
        keep = len(lines)
        total = self.snippet_tokens(rel, "\n".join(lines))
        for _ in range(6):
            if total <= room:
                break
            keep = min(keep - 1, int(keep * room / max(1, total)))
            if keep < 2:
                return None
            total = self.snippet_tokens(rel, "\n".join(lines[:keep]))
        if total > room:
            return None
        while keep > 1 and not lines[keep - 1].strip():
            keep -= 1
        return lines[:keep]


def uncovered_run(
    start: int, end: int, spans: list[tuple[int, int]], minimum: int = 3
) -> tuple[int, int] | None:
    """The longest run of lines in [start, end] that no span covers (None if shorter than `minimum`)."""
    covered: set[int] = set()
    for a, b in spans:
        covered.update(range(max(a, start), min(b, end) + 1))
    if not covered:
        return start, end
    best: tuple[int, int] | None = None
    run_start = None
    for i in range(start, end + 2):
        if i <= end and i not in covered:
            if run_start is None:
                run_start = i
        elif run_start is not None:
            if best is None or i - 1 - run_start > best[1] - best[0]:
                best = (run_start, i - 1)
            run_start = None
    if best is None or best[1] - best[0] + 1 < minimum:
        return None
    return best
