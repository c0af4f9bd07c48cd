"""Single line or a block: decided from the text around the cursor, unless the user forces one.

Mid-expression (code before the cursor on its line, no block opener) asks for one line, and so does
a blank line after a statement with code after it (a gap in existing code: one statement fills it; a
statement that opens a block brings its block). An empty block body, the end of the file, the end of
a block header (`def f():`, `if (x) {`) or whole lines inserted before existing code ask for a block.
"""

from __future__ import annotations

from typing import Literal

from qwen_ls.postprocess.cursor import Cursor, indent_width
from qwen_ls.postprocess.lexer import CLOSERS

Mode = Literal["single", "multi"]


def decide(cursor: Cursor, forced: str = "auto") -> Mode:
    if forced in ("single", "multi"):
        return forced  # type: ignore[return-value]
    if cursor.inserts_lines:
        return "multi"
    if cursor.at_line_start:
        return "single" if _inside_block(cursor) else "multi"
    if cursor.opens_block:
        return "multi"
    return "single"


def _inside_block(cursor: Cursor) -> bool:
    """A blank cursor line after a statement, with more code after it: a gap in existing code."""
    following = cursor.following
    if not following or not cursor.prev_lines:
        return False
    nxt, prev = following[0], cursor.prev_lines[-1]
    if _opens_block(prev, cursor):
        # an empty block body asks for a block; a block that already has a body, for a statement
        return indent_width(nxt) > indent_width(prev) and nxt.strip()[0] not in CLOSERS
    return True


def _opens_block(line: str, cursor: Cursor) -> bool:
    code = line.rstrip()
    if cursor.syntax.indent_blocks:
        return code.endswith(":")
    return code.endswith(("{", "=>", "("))
