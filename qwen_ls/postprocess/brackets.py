"""Brackets balanced against the code after the cursor.

When the completion closes a bracket that was opened before the cursor, either the code after the
cursor already closes it (the completion stops before its own closer), or it does not (the completion
keeps the closer and ends with that line: the enclosing construct is finished).
"""

from __future__ import annotations

from qwen_ls.postprocess.cursor import Cursor, indent_width
from qwen_ls.postprocess.lexer import scan


def _already_closed(text: str, q: int, char: str, cursor: Cursor) -> bool:
    """The code after the cursor starts with the same closer (at the same indentation when the
    completion's closer starts its line)."""
    for i, line in enumerate([cursor.line_suffix, *cursor.next_lines]):
        s = line.strip()
        if not s:
            continue
        if s[0] != char:
            return False
        line_start = text.rfind("\n", 0, q) + 1
        if i == 0 or text[line_start:q].strip() or line_start == 0:
            return True
        return indent_width(line) == indent_width(text[line_start:q])
    return False


def bracket_cut(text: str, cursor: Cursor, *, end_line: bool = True) -> int | None:
    """Offset where the completion must end because of a closer of a prefix bracket, or None.
    With `end_line` False a closer the suffix does not supply does not end the completion (single-line
    mode, where the statement rule decides)."""
    sc = scan(text, cursor.syntax, cursor.state, language=cursor.language)
    q = sc.first_unmatched
    if q is None:
        return None
    if _already_closed(text, q, sc.unmatched_char, cursor):
        line_start = text.rfind("\n", 0, q) + 1
        if not text[line_start:q].strip():
            return max(line_start - 1, 0)
        return q
    if not end_line:
        return None
    line_start = text.rfind("\n", 0, q) + 1
    if not cursor.following and q > line_start and indent_width(text[line_start:q]) > 0:
        return None  # nothing after the cursor: the enclosing blocks go on (indentation scope decides)
    end = text.find("\n", q)
    return None if end == -1 else end
