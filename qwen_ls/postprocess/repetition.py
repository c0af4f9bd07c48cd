"""Repetition: a completion that loops on the same line or block is cut after the first copy."""

from __future__ import annotations

MAX_BLOCK = 8


def repetition_cut(text: str) -> int | None:
    """Offset of the end of the first copy of a looping line (3 copies) or block (2 copies), or None."""
    lines = text.split("\n")
    complete = lines[:-1] if len(lines) > 1 else []
    stripped = [line.strip() for line in complete]
    ends = []
    offset = 0
    for line in complete:
        offset += len(line)
        ends.append(offset)
        offset += 1
    n = len(stripped)
    for i in range(n):
        for k in range(1, MAX_BLOCK + 1):
            if i + 2 * k > n:
                break
            block = stripped[i : i + k]
            if sum(c.isalnum() for line in block for c in line) < 2:
                continue
            if stripped[i + k : i + 2 * k] != block:
                continue
            if k == 1 and (i + 3 > n or stripped[i + 2] != block[0]):
                continue
            return ends[i + k - 1]
    return None
