"""The minimal edit: a line diff of the region, each changed hunk trimmed to the characters that
really differ, so the editor's undo, cursor and marks move as little as possible.

Applying the edits (in any order; they never overlap) to the original document gives exactly the
candidate document, and no edit reaches outside the region.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from qwen_ls.repair.data import Region, TextEdit
from qwen_ls.repair.text import line_offsets, position_at, split_lines


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _common_suffix(a: str, b: str, limit: int) -> int:
    n = min(len(a), len(b)) - limit
    i = 0
    while i < n and a[-1 - i] == b[-1 - i]:
        i += 1
    return i


def _no_split_crlf(text: str, pos: int) -> int:
    """Never cut between \\r and \\n (a position there is not addressable in LSP)."""
    if 0 < pos < len(text) and text[pos - 1] == "\r" and text[pos] == "\n":
        return pos - 1
    return pos


def region_edits(document: str, region: Region, replacement: str) -> list[TextEdit]:
    """Minimal edits turning `document` into the document with `region` replaced by `replacement`."""
    old = document[region.start : region.end]
    if old == replacement:
        return []
    old_lines = split_lines(old)
    new_lines = split_lines(replacement)
    # split_lines gives a trailing "" for text ending in a newline; drop it so lines align.
    if old_lines and old_lines[-1] == "":
        old_lines.pop()
    if new_lines and new_lines[-1] == "":
        new_lines.pop()
    old_starts = [0]
    for line in old_lines:
        old_starts.append(old_starts[-1] + len(line))
    new_starts = [0]
    for line in new_lines:
        new_starts.append(new_starts[-1] + len(line))
    offsets = line_offsets(document)
    edits: list[TextEdit] = []
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    hunks: list[tuple[int, int, int, int]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag == "replace" and i2 - i1 == j2 - j1:
            # as many lines in as out: line by line, so two small fixes stay two small edits
            hunks.extend((i1 + k, i1 + k + 1, j1 + k, j1 + k + 1) for k in range(i2 - i1))
        else:
            hunks.append((i1, i2, j1, j2))
    for i1, i2, j1, j2 in hunks:
        a_start, a_end = old_starts[i1], old_starts[i2]
        b_start, b_end = new_starts[j1], new_starts[j2]
        if old[a_start:a_end] == replacement[b_start:b_end]:
            continue
        a, b = old[a_start:a_end], replacement[b_start:b_end]
        pre = _common_prefix(a, b)
        suf = _common_suffix(a, b, pre)
        a_lo, a_hi = a_start + pre, a_end - suf
        b_lo, b_hi = b_start + pre, b_end - suf
        # keep \r\n pairs whole on the old side; widen the new side by the same characters
        fixed_lo = _no_split_crlf(old, a_lo)
        b_lo -= a_lo - fixed_lo
        a_lo = fixed_lo
        fixed_hi = _no_split_crlf(old, a_hi)
        if fixed_hi != a_hi:
            a_hi, b_hi = a_hi + 1, b_hi + 1
        start = region.start + a_lo
        end = region.start + a_hi
        s_line, s_char = position_at(offsets, start)
        e_line, e_char = position_at(offsets, end)
        edits.append(TextEdit(s_line, s_char, e_line, e_char, replacement[b_lo:b_hi]))
    return edits


def apply_edits(document: str, edits: Sequence[TextEdit]) -> str:
    """Apply non-overlapping edits (positions in the original document)."""
    offsets = line_offsets(document)

    def off(line: int, char: int) -> int:
        if line >= len(offsets):
            return len(document)
        return offsets[line] + char

    spans = sorted(
        ((off(e.start_line, e.start_character), off(e.end_line, e.end_character), e.new_text) for e in edits),
        key=lambda s: s[0],
    )
    out: list[str] = []
    pos = 0
    for start, end, new_text in spans:
        if start < pos:
            raise ValueError("overlapping edits")
        out.append(document[pos:start])
        out.append(new_text)
        pos = end
    out.append(document[pos:])
    return "".join(out)


def edits_within(document: str, region: Region, edits: Sequence[TextEdit]) -> bool:
    """Whether every edit lies inside the region."""
    offsets = line_offsets(document)
    for e in edits:
        start = offsets[e.start_line] + e.start_character if e.start_line < len(offsets) else len(document)
        end = offsets[e.end_line] + e.end_character if e.end_line < len(offsets) else len(document)
        if start < region.start or end > region.end or end < start:
            return False
    return True
