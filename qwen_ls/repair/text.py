"""Line arithmetic over document text, the way LSP counts lines.

LSP lines end at `\\n`, `\\r\\n` or `\\r` only (`str.splitlines` also splits on form feeds and other
characters, which would shift every position after them). Character positions here are Python `str`
indices; the LSP layer converts them to the negotiated encoding.
"""

from __future__ import annotations

import re

_EOL = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """Lines with their line endings kept; the last line may have none. Empty text is one empty line."""
    lines: list[str] = []
    pos = 0
    for m in _EOL.finditer(text):
        lines.append(text[pos : m.end()])
        pos = m.end()
    lines.append(text[pos:])
    return lines


def strip_eol(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith(("\n", "\r")):
        return line[:-1]
    return line


def line_offsets(text: str) -> list[int]:
    """Offset of the start of each line (same length as `split_lines(text)`)."""
    offsets = [0]
    offsets.extend(m.end() for m in _EOL.finditer(text))
    return offsets


def offset_at(offsets: list[int], text_len: int, line: int, character: int) -> int:
    """Offset of (line, character), clamped to the document like LSP clients expect."""
    if line < 0:
        return 0
    if line >= len(offsets):
        return text_len
    start = offsets[line]
    end = offsets[line + 1] if line + 1 < len(offsets) else text_len
    return min(start + max(character, 0), end)


def position_at(offsets: list[int], offset: int) -> tuple[int, int]:
    """(line, character) of an offset."""
    lo, hi = 0, len(offsets) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if offsets[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo, offset - offsets[lo]


def dominant_eol(text: str) -> str:
    """The line ending most used in `text` (`\\n` when there is none)."""
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    cr = text.count("\r") - crlf
    best = max((lf, "\n"), (crlf, "\r\n"), (cr, "\r"), key=lambda pair: pair[0])
    return best[1] if best[0] > 0 else "\n"


def normalize_eol(text: str, eol: str) -> str:
    return _EOL.sub(eol, text)


def leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def is_blank(line: str) -> bool:
    return not line.strip()
