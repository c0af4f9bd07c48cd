"""Overlap with the code after the cursor: a completion that runs on into the following lines is cut
where the repetition starts, and one that only repeats them becomes empty.

Lines are compared with their indentation. A run-on repeats the following lines in order, so a match
is confirmed by the next lines too (as many as the completion has, up to three); a single matching line
is only trusted when it is the completion's last line and has some substance (not just `}`).
"""

from __future__ import annotations

from qwen_ls.postprocess.cursor import Cursor

CONFIRM_LINES = 3


def _significant(line: str) -> bool:
    return any(c.isalnum() for c in line)


def suffix_line_overlap(text: str, cursor: Cursor, *, final: bool = True, partial: bool = True) -> int | None:
    """Offset of the first completion line that starts repeating the lines after the cursor, or None."""
    following = [line.rstrip() for line in cursor.following]
    if not following:
        return None
    lines = text.split("\n")
    offset = 0
    starts = []
    for line in lines:
        starts.append(offset)
        offset += len(line) + 1
    complete = len(lines) - 1  # the last line has no newline yet
    full = [line.rstrip() for line in lines]
    if cursor.at_line_start:
        full[0] = (cursor.line_prefix + lines[0]).rstrip()
        first = 0
    else:
        first = 1
    # (index, line) of the non-blank completion lines that can be compared
    usable = [(i, full[i]) for i in range(first, len(lines)) if full[i].strip() and (i < complete or final)]
    for n, (i, line) in enumerate(usable):
        if line != following[0]:
            if (
                partial
                and i == complete
                and final
                and i > 0
                and len(line.strip()) >= 4
                and following[0].startswith(line)
                and n == len(usable) - 1
            ):
                return max(starts[i] - 1, 0)  # a run-on cut short by the token limit
            continue
        rest = usable[n + 1 : n + CONFIRM_LINES]
        if not rest:
            if not final and i == complete - 1 and len(following) > 1:
                return None  # wait for the next line to confirm
            if _significant(line) or len(following) == 1:
                return max(starts[i] - 1, 0)
            continue
        if all(k < len(following) and following[k] == other for k, (_, other) in enumerate(rest, 1)):
            return max(starts[i] - 1, 0)
    return None
