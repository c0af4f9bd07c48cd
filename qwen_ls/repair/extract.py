"""Turning a model's answer into the region's replacement text.

The answer may be a fenced block (the one most like the region is taken), bare code, code with the
prompt's line numbers echoed, code that repeats lines around the region, or code indented differently
(models often dedent a region to column 0). Special tokens never pass: the text is cut at the first
stop token and any other special-token text is removed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from qwen_ls import qwen
from qwen_ls.repair.text import dominant_eol, is_blank, leading_ws, normalize_eol, split_lines, strip_eol

_FENCE_OPEN = re.compile(r"^[ \t]*(```+|~~~+)[ \t]*([\w+#.-]*)[^\n]*$", re.M)
_LINE_NUMBER = re.compile(r"^[ \t]*\d+\| ?")


@dataclass(frozen=True)
class Extracted:
    """The replacement for the region, or None with the reason it could not be found."""

    text: str | None
    reason: str = ""


def strip_special(text: str) -> str:
    """Cut at the first stop token; drop any other special-token text."""
    cut = len(text)
    for stop in qwen.STOP_TEXTS:
        i = text.find(stop)
        if i != -1:
            cut = min(cut, i)
    text = text[:cut]
    for special in qwen.SPECIAL_TEXTS:
        text = text.replace(special, "")
    return text


def fenced_blocks(text: str) -> tuple[list[str], str | None]:
    """Closed fenced blocks, and the body of a final fence that was never closed (or None)."""
    blocks: list[str] = []
    pos = 0
    while True:
        m = _FENCE_OPEN.search(text, pos)
        if m is None:
            return blocks, None
        fence = m.group(1)
        body_start = m.end() + 1
        close = re.compile(rf"^[ \t]*{re.escape(fence[0]) * len(fence)}[ \t]*$", re.M)
        c = close.search(text, body_start)
        if c is None:
            return blocks, text[body_start:]
        blocks.append(text[body_start : c.start()])
        pos = c.end()


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _strip_line_numbers(lines: list[str]) -> list[str]:
    body = [line for line in lines if line.strip()]
    if body and all(_LINE_NUMBER.match(line) for line in body):
        return [_LINE_NUMBER.sub("", line, count=1) for line in lines]
    return lines


def _trim_echo(lines: list[str], region: list[str], before: Sequence[str], after: Sequence[str]) -> list[str]:
    """Drop leading lines that repeat the lines just before the region (and trailing ones that repeat
    the lines just after), when the region itself does not start (end) that way."""

    def same(a: str, b: str) -> bool:
        return a.strip() == b.strip()

    best = 0
    for k in range(1, min(len(before), len(lines) - 1) + 1):
        if (
            all(same(x, y) for x, y in zip(lines[:k], before[-k:], strict=False))
            and not (
                len(region) >= k and all(same(x, y) for x, y in zip(lines[:k], region[:k], strict=False))
            )
            and any(line.strip() for line in lines[:k])
        ):
            best = k
    lines = lines[best:]
    best = 0
    for k in range(1, min(len(after), len(lines) - 1) + 1):
        if (
            all(same(x, y) for x, y in zip(lines[-k:], after[:k], strict=False))
            and not (
                len(region) >= k and all(same(x, y) for x, y in zip(lines[-k:], region[-k:], strict=False))
            )
            and any(line.strip() for line in lines[-k:])
        ):
            best = k
    return lines[: len(lines) - best] if best else lines


def _min_indent(lines: Sequence[str]) -> str | None:
    indents = [leading_ws(line) for line in lines if not is_blank(line)]
    return min(indents, key=len) if indents else None


def reindent(lines: list[str], region: list[str]) -> list[str]:
    """Shift the candidate so its least-indented line sits where the region's does."""
    want = _min_indent(region)
    have = _min_indent(lines)
    if want is None or have is None or len(want) == len(have):
        return lines
    if len(have) < len(want):
        pad = want[: len(want) - len(have)] if want.startswith(have) else want[len(have) :]
        return [pad + line if not is_blank(line) else line for line in lines]
    excess = len(have) - len(want)
    return [line[excess:] if not is_blank(line) else line for line in lines]


def extract_candidate(
    output: str,
    region_text: str,
    before: Sequence[str] = (),
    after: Sequence[str] = (),
    truncated: bool = False,
) -> Extracted:
    """The region's replacement from a model answer.

    `before`/`after` are the document lines just outside the region (to drop echoed context);
    `truncated` says generation stopped at max tokens (an unclosed block is then incomplete).
    The result uses the document's line endings and ends with one iff the region does.
    """
    text = strip_special(output)
    blocks, unclosed = fenced_blocks(text)
    if blocks:
        body = max(blocks, key=lambda b: _similarity(b, region_text))
    elif unclosed is not None:
        if truncated:
            return Extracted(
                None, "the answer was cut off before the code block ended (raise repair.maxTokens)"
            )
        body = unclosed
    else:
        if truncated:
            return Extracted(None, "the answer was cut off at the token limit (raise repair.maxTokens)")
        body = text
    eol = dominant_eol(region_text)
    region_lines = [strip_eol(line) for line in split_lines(region_text)]
    if region_lines and region_lines[-1] == "" and region_text.endswith(("\n", "\r")):
        region_lines.pop()
    lines = [strip_eol(line) for line in split_lines(normalize_eol(body, "\n"))]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return Extracted(None, "the answer contained no code")
    lines = _strip_line_numbers(lines)
    lines = _trim_echo(lines, region_lines, [strip_eol(b) for b in before], [strip_eol(a) for a in after])
    lines = reindent(lines, region_lines)
    lines = [line.rstrip() if not line.strip() else line for line in lines]
    # Models drop trailing whitespace; a line otherwise unchanged keeps the original's.
    trailing = {line.rstrip(): line for line in region_lines if line != line.rstrip() and line.strip()}
    lines = [trailing.get(line, line) if line == line.rstrip() else line for line in lines]
    # Blank lines at the region's edges are not the model's to remove (fences drop them).
    lead = 0
    while lead < len(region_lines) and not region_lines[lead].strip():
        lead += 1
    trail = 0
    while trail < len(region_lines) - lead and not region_lines[len(region_lines) - 1 - trail].strip():
        trail += 1
    lines = region_lines[:lead] + lines + (region_lines[len(region_lines) - trail :] if trail else [])
    candidate = eol.join(lines)
    if region_text.endswith(("\n", "\r")):
        candidate += eol
    return Extracted(candidate)


def extract_fim_candidate(output: str, original: str, suffix: str, truncated: bool = False) -> Extracted:
    """The region's replacement from a fill-in-the-middle answer: cut where the model runs into the
    suffix (its first non-blank line repeated at a line start)."""
    text = strip_special(output)
    if truncated:
        return Extracted(None, "the rewrite was cut off at the token limit (raise repair.maxTokens)")
    next_lines = [line for line in (strip_eol(x) for x in split_lines(suffix)) if line.strip()]
    if next_lines:
        marker = next_lines[0]
        pos = 0
        for line in split_lines(text):
            if strip_eol(line) == marker and pos > 0:
                text = text[:pos]
                break
            pos += len(line)
    if not text.strip():
        return Extracted(None, "the rewrite was empty")
    eol = dominant_eol(original)
    text = normalize_eol(text, eol)
    if original.endswith(("\n", "\r")) and not text.endswith(eol):
        text += eol
    elif not original.endswith(("\n", "\r")):
        text = text.rstrip("\r\n")
    return Extracted(text)
