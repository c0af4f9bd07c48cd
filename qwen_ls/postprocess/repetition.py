"""Repetition: a completion that loops on the same line or block is cut after the first copy, and one
that loops within a line (`.get(0).next().get(0).next().get(0).next()`) after the first copy of the
repeated piece. While text streams in, `second_copy_start` and `inline_copy_start` find where a copy
that these cuts may yet remove begins (a streamed partial holds it back until the loop is ruled out)."""

from __future__ import annotations

import re

MAX_BLOCK = 8
#: A piece of at least 8 characters with a name in it, three times in a row within a line.
_INLINE_LOOP = re.compile(r"(?=(.{8,80}?)\1\1)")
_NAME = re.compile(r"[A-Za-z_]{3}")


def repetition_cut(text: str, *, inline_loops: bool = True) -> int | None:
    """Offset of the end of the first copy of a looping line (3 copies) or block (2 copies), or of
    a piece looping within a line (3 copies), whichever comes first; or None."""
    block = _block_cut(text)
    if not inline_loops:
        return block
    inline = _inline_cut(text if block is None else text[:block])
    return inline if inline is not None else block


def _inline_cut(text: str) -> int | None:
    offset = 0
    for line in text.split("\n"):
        if len(line) >= 24:
            for m in _INLINE_LOOP.finditer(line[:600]):
                piece = m.group(1)
                if not (_NAME.search(piece) and any(c in piece for c in "(.[")):
                    continue  # a chain of calls or members, not a list of equal values
                # the loop may be seen from inside a call: end the first copy where brackets balance
                # and the next copy starts with a delimiter (`.next()` and not `()`)
                for shift in range(len(piece)):
                    rotated = piece[shift:] + piece[:shift]
                    if _balanced(rotated) and rotated[0] in ".-,;:|&+ " and rotated[0] != rotated[-1]:
                        return offset + m.start() + shift + len(piece)
        offset += len(line) + 1
    return None


def _balanced(piece: str) -> bool:
    depth = 0
    for c in piece:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _block_cut(text: str) -> int | None:
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
            if not _significant_block(block):
                continue
            if stripped[i + k : i + 2 * k] != block:
                continue
            if k == 1 and (i + 3 > n or stripped[i + 2] != block[0]):
                continue
            return ends[i + k - 1]
    return None


def _significant_block(block: list[str]) -> bool:
    return sum(c.isalnum() for line in block for c in line) >= 2


def second_copy_start(text: str) -> int | None:
    """Offset of the first of the trailing complete lines that repeat the block just before them (the
    start of a second copy of it, which `repetition_cut` would cut once the copy is complete), or None."""
    lines = text.split("\n")[:-1]
    stripped = [line.strip() for line in lines]
    n = len(stripped)
    for s in range(max(1, n - MAX_BLOCK), n):
        tail = stripped[s:]
        for k in range(n - s, min(MAX_BLOCK, s) + 1):
            block = stripped[s - k : s]
            if block[: n - s] == tail and _significant_block(block):
                return sum(len(line) + 1 for line in lines[:s])
    return None


def inline_copy_start(line: str) -> int | None:
    """Offset where the end of `line` starts repeating the 8 to 80 characters before it (a second copy of
    a piece that `_inline_cut` cuts once there are three), or None."""
    best: int | None = None
    for size in range(8, min(80, len(line) - 1) + 1):
        start = len(line)
        while start > size and line[start - 1] == line[start - 1 - size]:
            start -= 1
        piece = line[start - size : start]
        if start < len(line) and _NAME.search(piece) and any(c in piece for c in "(.["):
            best = start if best is None else min(best, start)
    return best
