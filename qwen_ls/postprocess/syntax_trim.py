"""Syntax-aware truncation with tree-sitter.

`syntax_cut`: among the line ends of a block completion, keep the longest cut at which
prefix + completion + suffix parses as well as it can (and no worse than prefix + suffix alone).
`syntax_extend`: a single-line completion that ends its statement may keep its next lines when they
make the document parse strictly better (they close what the code after the cursor leaves open).

The text around the cursor is parsed once (`DocSyntax`); each candidate is an incremental re-parse of
that tree with the completion inserted. Only a window is parsed: at least WINDOW_BEFORE lines before
the cursor and WINDOW_AFTER after it, widened to top-level lines (no indentation) so that the
constructs around the cursor are whole; without such a line nearby the whole document is parsed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qwen_ls import syntax
from qwen_ls.postprocess.cursor import indent_width

MAX_CANDIDATES = 24
WINDOW_BEFORE = 150
WINDOW_AFTER = 80
#: How much further a window may grow to reach a top-level line before the whole text is used.
WINDOW_SEARCH = 600


def _top_level(line: str) -> bool:
    """A line that starts a top-level construct: code in column 0 that does not close something."""
    return bool(line.strip()) and line[0] not in " \t)]}>,.'\"`#/*"


def window(prefix: str, suffix: str) -> tuple[str, str]:
    """The part of `prefix` and `suffix` that the parser sees (see the module docstring)."""
    lines = prefix.split("\n")
    start = max(0, len(lines) - 1 - WINDOW_BEFORE)
    floor = max(0, start - WINDOW_SEARCH)
    while start > floor and not _top_level(lines[start]):
        start -= 1
    if start == floor:
        start = 0
    after = suffix.split("\n")
    end = min(len(after), WINDOW_AFTER + 1)
    ceiling = min(len(after), end + WINDOW_SEARCH)
    while end < ceiling and not _top_level(after[end]):
        end += 1
    if end >= ceiling:
        end = len(after)
    return "\n".join(lines[start:]), "\n".join(after[:end])


#: How many lines past the end of a statement `syntax_extend` may keep.
EXTEND_LINES = 8
#: Parsed trees kept per document (the stream stopper asks about the same few cuts again and again).
TREES_KEPT = 16


class DocSyntax:
    """prefix + suffix parsed once; error counts with a middle inserted, by incremental re-parsing."""

    def __init__(self, prefix: str, suffix: str, language: str | None, *, whole: bool = False) -> None:
        self.language = language
        if not whole:
            prefix, suffix = window(prefix, suffix)
        self._prefix = prefix.encode("utf-8")
        self._suffix = suffix.encode("utf-8")
        self._row = prefix.count("\n")
        self._col = len(self._prefix) - (self._prefix.rfind(b"\n") + 1)
        self._tree: Any = None
        self._parser: Any = None
        self._cache: dict[str, int] = {}
        self._trees: dict[str, Any] = {}
        self.available = syntax.has_grammar(language)

    def _base(self) -> Any:
        if self._tree is None:
            self._parser = syntax.get_parser(self.language)
            self._tree = self._parser.parse(self._prefix + self._suffix)
        return self._tree

    @property
    def cursor_byte(self) -> int:
        """Byte offset of the cursor in the parsed text."""
        return len(self._prefix)

    @property
    def line_start_byte(self) -> int:
        """Byte offset of the cursor line's first character in the parsed text."""
        return self._prefix.rfind(b"\n") + 1

    def tree(self, middle: str) -> Any:
        """The syntax tree of prefix + `middle` + suffix (an incremental re-parse; the last few are kept)."""
        cached = self._trees.get(middle)
        if cached is not None:
            return cached
        base = self._base()
        mb = middle.encode("utf-8")
        lines = mb.count(b"\n")
        end_col = len(mb) - (mb.rfind(b"\n") + 1) if lines else self._col + len(mb)
        tree = base.copy()
        start = len(self._prefix)
        tree.edit(
            start_byte=start,
            old_end_byte=start,
            new_end_byte=start + len(mb),
            start_point=(self._row, self._col),
            old_end_point=(self._row, self._col),
            new_end_point=(self._row + lines, end_col),
        )
        new = self._parser.parse(self._prefix + mb + self._suffix, tree)
        if len(self._trees) >= TREES_KEPT:
            self._trees.pop(next(iter(self._trees)))
        self._trees[middle] = new
        return new

    def errors(self, middle: str) -> int:
        cached = self._cache.get(middle)
        if cached is not None:
            return cached
        count = len(syntax.error_nodes(self.tree(middle).root_node))
        self._cache[middle] = count
        return count


def syntax_cut(
    text: str, doc: DocSyntax, *, whole_lines: bool = False, unit_open: Callable[[str], bool] | None = None
) -> int | None:
    """Offset of the best line-end cut of `text`, or None to keep it whole (also without a grammar).
    With `whole_lines` (lines inserted before existing code) each cut keeps its newline. A cut that
    `unit_open` refuses (it leaves the unit at the cursor unfinished) is no candidate."""
    if "\n" not in text.rstrip() or not doc.available:
        return None
    baseline = doc.errors("")
    cands = [i for i, c in enumerate(text) if c == "\n" and text[:i].strip()]
    full = len(text.rstrip())
    if not cands or cands[-1] < full:
        cands.append(full)
    if unit_open is not None:
        cands = [k for k in cands if k == full or not unit_open(text[:k])]
    cands = cands[-MAX_CANDIDATES:]
    scores: list[tuple[int, int]] = []
    for k in cands:
        middle = text[:k] + "\n" if whole_lines else text[:k]
        scores.append((doc.errors(middle), k))
    best = min(e for e, _ in scores)
    if best > baseline:
        return None
    k = max(k for e, k in scores if e == best)
    return None if k >= full else k


def syntax_extend(text: str, end: int, doc: DocSyntax, indent: int) -> int | None:
    """The statement ends at `end`; the shortest later line end at which the document has no syntax
    errors left, when the statement alone leaves some; else None. The extra lines must all be indented
    less than `indent` (the cursor line's): they close enclosing constructs, they do not add to them."""
    if end >= len(text.rstrip()) or not doc.available:
        return None
    base = doc.errors(text[:end])
    if not base:
        return None
    pos = end
    seen = 0
    while seen < EXTEND_LINES:
        nl = text.find("\n", pos + 1)
        k = len(text.rstrip()) if nl == -1 else nl
        line = text[pos + 1 : k]
        if line.strip():
            if indent_width(line) >= indent:
                return None
            seen += 1
            if doc.errors(text[:k]) == 0:
                return k
        if nl == -1:
            break
        pos = nl
    return None
