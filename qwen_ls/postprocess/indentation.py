"""Indentation scope: a block completion stops when a line dedents past the block the cursor is in.

A dedented closing line (`}`) is kept when the code after the cursor needs it, that is when the next
code after the cursor is not that same closer at the same indentation. With no code at all after the
cursor (the end of the file), the enclosing blocks are unfinished: the completion may dedent to finish
them, but not back to the top level. On an empty line at column 0 the cursor's block is not known
yet: there the completion may dedent as far as the code that follows it.
A dedented block header whose body is the code after the cursor (`else:` above a deeper line) is
needed too.
"""

from __future__ import annotations

from qwen_ls.postprocess.cursor import Cursor, indent_width
from qwen_ls.postprocess.lexer import CLOSERS


def _closer_needed(line: str, cursor: Cursor) -> bool:
    following = cursor.following
    if not following:
        return True
    nxt = following[0]
    return not (nxt.strip()[:1] == line.strip()[:1] and indent_width(nxt) == indent_width(line))


def _comment_only(line: str, cursor: Cursor) -> bool:
    s = line.lstrip()
    starts = (
        (*cursor.syntax.line_comments, "/*", "*")
        if cursor.syntax.block_comment
        else cursor.syntax.line_comments
    )
    return s.startswith(starts)


def _header_needed(line: str, cursor: Cursor) -> bool:
    code = line.rstrip()
    if not code.endswith(":" if cursor.syntax.indent_blocks else "{"):
        return False
    following = cursor.following
    return bool(following) and indent_width(following[0]) > indent_width(line)


def indentation_cut(text: str, cursor: Cursor) -> int | None:
    """Offset where the completion leaves the cursor's block, or None."""
    lines = text.split("\n")
    if cursor.line_has_code:
        base = indent_width(cursor.line_prefix)
        inner = cursor.opens_block
        first = 1
    else:
        first_line = cursor.line_prefix + lines[0]
        k = 0
        while not first_line.strip() and k + 1 < len(lines):
            k += 1
            first_line = lines[k]
        if not first_line.strip():
            return None
        base = indent_width(first_line)
        inner = False
        first = k + 1
        if cursor.line_prefix == "" and cursor.following:
            base = min(base, indent_width(cursor.following[0]))
    offset = sum(len(line) + 1 for line in lines[:first])
    at_end = not cursor.following
    for i in range(first, len(lines)):
        line = lines[i]
        start = offset
        offset += len(line) + 1
        if not line.strip() or _comment_only(line, cursor):
            continue  # comments are often not indented with the code
        width = indent_width(line)
        if width > base or (width == base and not inner):
            continue
        if i == len(lines) - 1 and not line.strip():
            continue
        if at_end and width > 0:
            base, inner = width, False  # finishing an enclosing block
            continue
        if _header_needed(line, cursor):
            base, inner = width, True
            continue
        if line.strip()[0] in CLOSERS and _closer_needed(line, cursor):
            end = start + len(line)
            return end if end < len(text) else None
        return max(start - 1, 0)
    return None
