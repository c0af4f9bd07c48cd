"""Single-line mode at the end of a line: the completion is the rest of one statement.

That is usually the first line, but a statement may go on over several lines while brackets are open,
after a trailing operator or backslash, or when the next line starts with `.`, `?`, `&&` (a chained
call or a continued expression). A line that ends a block header (`{`, `:`) ends it too.
"""

from __future__ import annotations

import re

from qwen_ls.postprocess.cursor import Cursor, indent_width
from qwen_ls.postprocess.lexer import scan

_CONT_END_C = re.compile(r"(=|\+|-|\*|/|%|&&|\|\||\?|,|\(|\[|\.|<|>|\||&|\^|!|~)$")
_CONT_END_PY = re.compile(r"(\\|,|\(|\[|\{|\+|-|\*|/|%|=|\band|\bor|\bnot|\bin|\bif|\belse)$")
_CONT_START_C = re.compile(r"^(\.|\?|:(?!:)|&&|\|\||\+|\*|/(?![/*])|%|\||&|\^|=>|->)")
_COMMENT_C = re.compile(r"\s*(//.*|/\*.*\*/)$")
_COMMENT_PY = re.compile(r"\s*#.*$")


def _code_end(line: str, cursor: Cursor) -> str:
    """The line without a trailing comment (approximate: enough to see how the code ends)."""
    pattern = _COMMENT_PY if cursor.syntax.indent_blocks else _COMMENT_C
    return pattern.sub("", line).rstrip()


def statement_end(text: str, cursor: Cursor, *, final: bool = True) -> int | None:
    """Offset where the statement begun at the cursor ends (a newline), or None when `text` does not
    end it yet. A header followed by a lone `{` line (Allman style) ends after the brace."""
    if final and not text.endswith("\n"):
        # the end of the final text is a line end too
        k = statement_end(text + "\n", cursor, final=True)
        return None if k is None else min(k, len(text))
    found = _statement_end(text, cursor, final=final)
    if found is None:
        return None
    end, header = found
    if header is not None and cursor.at_line_start:
        return _compound_end(text, end, header, cursor, final=final)
    if cursor.syntax.indent_blocks:
        return end
    nxt = text.find("\n", end + 1)
    line = text[end + 1 :] if nxt == -1 else text[end + 1 : nxt]
    if line.strip() == "{":
        if nxt == -1:
            return None if not final else len(text)
        return nxt
    if nxt == -1 and not final and "{".startswith(line.strip()):
        return None
    return end


_CONTINUES_PY = re.compile(r"^(elif\b|else\b|except\b|finally\b)")


def _compound_end(text: str, end: int, header: str, cursor: Cursor, *, final: bool) -> int | None:
    """On a line of its own, a statement that opens a block (`for ...:`, `if (...) {`) goes on to the
    end of that block: the first line back at the header's indentation (a closing `}` included,
    `else`/`} else {` continuing)."""
    base = indent_width(header)
    pos = end + 1
    while pos < len(text):
        nl = text.find("\n", pos)
        if nl == -1:
            if not final:
                return None
            break
        line = text[pos:nl]
        s = line.strip()
        if s and indent_width(line) <= base:
            if cursor.syntax.indent_blocks:
                if _CONTINUES_PY.match(s):
                    pos = nl + 1
                    continue
                return pos - 1
            if s[0] in "}])":
                if _code_end(line, cursor).endswith("{"):
                    pos = nl + 1
                    continue
                return nl
            return pos - 1
        pos = nl + 1
    if not final:
        return None
    line = text[pos:]
    s = line.strip()
    if s and indent_width(line) <= base and not (s[0] in "}])" and not cursor.syntax.indent_blocks):
        return pos - 1
    return len(text)


def _statement_end(text: str, cursor: Cursor, *, final: bool = True) -> tuple[int, str | None] | None:
    """Where the first statement ends, and its line when it is a block header."""
    sc = scan(text, cursor.syntax, cursor.state, language=cursor.language)
    pos = -1
    line_start = 0
    for j, depth in enumerate(sc.newline_depths):
        pos = text.index("\n", pos + 1)
        line = text[line_start:pos]
        full = (cursor.line_prefix + line) if j == 0 else line
        line_start = pos + 1
        if not full.strip():
            if j == 0 and cursor.line_has_code:
                return pos, None  # the model ended the line right at the cursor
            continue
        if sc.newline_in_literal[j]:
            continue
        code = _code_end(full, cursor)
        if not code.strip():
            continue  # a comment line on its own: the statement follows it
        if depth < 0:
            return pos, None
        if cursor.syntax.indent_blocks:
            if depth > 0 or _CONT_END_PY.search(code):
                continue
            return pos, (full if code.endswith(":") else None)
        if code.endswith("{"):
            return pos, full
        if depth > 0 or _CONT_END_C.search(code):
            continue
        nxt = _next_code_start(text, pos + 1)
        if nxt is None:
            if not final:
                return None  # the next line may continue the expression
            return pos, None
        if _CONT_START_C.search(nxt):
            continue
        return pos, None
    return None


def _next_code_start(text: str, start: int) -> str | None:
    """The beginning of the next non-blank line, or None if the text has no complete one yet."""
    while start < len(text):
        end = text.find("\n", start)
        line = text[start:] if end == -1 else text[start:end]
        if line.strip():
            return line.strip()
        if end == -1:
            return None
        start = end + 1
    return None
