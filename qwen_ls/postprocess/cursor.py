"""What post-processing needs to know about the cursor, computed once per request.

Everything here comes from the text around the cursor: the current line split at the cursor, its
indentation, the lines before and after, and whether the cursor is inside a string. It never parses
the whole document, so building it is cheap enough for every keystroke.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qwen_ls.postprocess.lexer import LexState, Syntax, state_at_end, syntax_for

if TYPE_CHECKING:
    from qwen_ls.postprocess import CompletionContext

#: How many following lines of the suffix the filters look at.
SUFFIX_LINES = 12
TAB_WIDTH = 4

_BLOCK_OPENER_PY = re.compile(r":\s*(#.*)?$")
_BLOCK_OPENER_BRACE = re.compile(r"(\{|=>|->)\s*(//.*|/\*.*\*/)?$")


def indent_width(line: str) -> int:
    """Columns of leading whitespace (tabs count as TAB_WIDTH)."""
    width = 0
    for c in line:
        if c == " ":
            width += 1
        elif c == "\t":
            width += TAB_WIDTH
        else:
            break
    return width


def leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


@dataclass(frozen=True)
class Cursor:
    """The cursor's surroundings."""

    language: str | None
    syntax: Syntax
    #: Text of the cursor line before the cursor, and after it (up to the newline).
    line_prefix: str
    line_suffix: str
    #: Non-blank lines before the cursor line, nearest last (at most a few).
    prev_lines: tuple[str, ...]
    #: Lines of the suffix after the cursor line (blank ones included), at most SUFFIX_LINES.
    next_lines: tuple[str, ...]
    #: Lexer state at the cursor (inside a string?), from the cursor line alone.
    state: LexState

    @property
    def line_has_code(self) -> bool:
        return bool(self.line_prefix.strip())

    @property
    def right_has_code(self) -> bool:
        return bool(self.line_suffix.strip())

    @property
    def at_line_start(self) -> bool:
        """Nothing but indentation before the cursor."""
        return not self.line_prefix.strip()

    @property
    def inserts_lines(self) -> bool:
        """Cursor at column 0 of a line that has code: the completion goes in as whole lines before it."""
        return self.line_prefix == "" and self.right_has_code

    @property
    def line_indent(self) -> int:
        """Indentation of the cursor line (for a blank line: the cursor column)."""
        if self.line_has_code:
            return indent_width(self.line_prefix)
        if self.inserts_lines:
            return indent_width(self.line_suffix)
        return indent_width(self.line_prefix)

    @property
    def following(self) -> list[str]:
        """The non-blank lines after the cursor (the cursor line's own text first when lines are inserted
        before it)."""
        lines = [self.line_suffix] if self.inserts_lines else []
        lines.extend(line for line in self.next_lines if line.strip())
        return lines

    @property
    def opens_block(self) -> bool:
        """The text before the cursor ends with a block opener (`:` in Python, `{`, `=>`)."""
        code = self.line_prefix.rstrip()
        if not code or (self.right_has_code and not _only_closers(self.line_suffix)):
            return False
        if self.syntax.indent_blocks:
            return bool(_BLOCK_OPENER_PY.search(code))
        return bool(_BLOCK_OPENER_BRACE.search(code))


def _only_closers(text: str) -> bool:
    return all(c in ")]}>;,'\"` \t" for c in text)


def cursor_from(ctx: CompletionContext) -> Cursor:
    prefix, suffix = ctx.prefix, ctx.suffix
    nl = prefix.rfind("\n")
    line_prefix = prefix[nl + 1 :]
    prev: list[str] = []
    end = nl
    while end > 0 and len(prev) < 3:
        start = prefix.rfind("\n", 0, end)
        line = prefix[start + 1 : end]
        if line.strip():
            prev.append(line)
        end = start
    prev.reverse()
    nl2 = suffix.find("\n")
    line_suffix = suffix if nl2 == -1 else suffix[:nl2]
    next_lines: list[str] = []
    if nl2 != -1:
        pos = nl2 + 1
        while len(next_lines) < SUFFIX_LINES and pos <= len(suffix):
            e = suffix.find("\n", pos)
            if e == -1:
                if pos < len(suffix):
                    next_lines.append(suffix[pos:])
                break
            next_lines.append(suffix[pos:e])
            pos = e + 1
    syntax = syntax_for(ctx.language)
    return Cursor(
        language=ctx.language,
        syntax=syntax,
        line_prefix=line_prefix,
        line_suffix=line_suffix,
        prev_lines=tuple(prev),
        next_lines=tuple(next_lines),
        state=state_at_end(line_prefix, syntax, ctx.language),
    )
