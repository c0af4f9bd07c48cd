"""Single-line mode at the end of a line: the completion is the rest of one statement.

That is usually the first line, but a statement may go on over several lines while brackets are open,
after a trailing operator or backslash, or when the next line starts with `.`, `?`, `&&` (a chained
call or a continued expression) or with a declaration's clause (`throws`, `where`, `extends`). A line
that ends a block header (`{`, `:`) ends it too. Where a grammar is available the syntax tree may refuse
a line end that leaves the unit unfinished (`unit`): a decorating line, an open JSX tag.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from qwen_ls.postprocess.cursor import Cursor, indent_width
from qwen_ls.postprocess.lexer import scan

_CONT_END_C = re.compile(r"(=|\+|-|\*|/|%|&&|\|\||\?|,|\(|\[|\.|<|>|\||&|\^|!|~)$")
_CONT_END_PY = re.compile(r"(\\|,|\(|\[|\{|\+|-|\*|/|%|=|\band|\bor|\bnot|\bin|\bif|\belse)$")
_CONT_START_C = re.compile(
    r"^(\.|\?|:(?!:)|&&|\|\||\+|\*|/(?![/*])|%|\||&|\^|=>|->|(throws|where|extends|implements)\b)"
)
_COMMENT_C = re.compile(r"\s*(//.*|/\*.*\*/)$")
_COMMENT_PY = re.compile(r"\s*#.*$")
#: How many line ends `unit_open` may be asked about before the statement rule's first end is taken
#: after all (a document broken around the cursor must not make every completion run on, nor cost more
#: than a few parses).
MAX_REFUSED = 12


def _code_end(line: str, cursor: Cursor) -> str:
    """The line without a trailing comment (approximate: enough to see how the code ends)."""
    pattern = _COMMENT_PY if cursor.syntax.indent_blocks else _COMMENT_C
    return pattern.sub("", line).rstrip()


def statement_end(
    text: str,
    cursor: Cursor,
    *,
    final: bool = True,
    unit_open: Callable[[str], bool] | None = None,
    blocks: bool = True,
) -> int | None:
    """Offset where the statement begun at the cursor ends (a newline), or None when `text` does not
    end it yet. A header followed by a lone `{` line (Allman style) ends after the brace.

    `unit_open` (see `unit`) may refuse a line end, given the completion cut there: the statement then
    goes on to the next line end. When the text ends before it accepts one (the model stopped inside the
    unit), the final pass keeps the text up to the last of them; after MAX_REFUSED, the first. A line
    that ends with `>` (a comparison going on, or the end of a JSX tag or of a type) is left to the
    tree: without `unit_open` it continues the statement. With `blocks` False a block header on a
    line of its own ends at the opening of its body."""
    if final and not text.endswith("\n"):
        # the end of the final text is a line end too
        k = statement_end(text + "\n", cursor, final=True, unit_open=unit_open, blocks=blocks)
        return None if k is None else min(k, len(text))
    first: int | None = None
    last: int | None = None
    refused = 0
    for found in _statement_ends(text, cursor, final=final):
        if found is None:
            return None
        end, header, soft = found
        if soft:
            if unit_open is not None and refused < MAX_REFUSED:
                refused += 1
                if not unit_open(text[:end]):
                    return end
            continue
        compound = blocks and header is not None and cursor.at_line_start
        k = (
            _compound_end(text, end, header, cursor, final=final)
            if compound
            else _unit_end(text, end, cursor, final)
        )
        if k is None or unit_open is None or compound:
            return k
        if first is None:
            if final and not text[k:].strip():
                return k  # nothing follows: refused or not, the final pass would keep it
            first = k
        if refused >= MAX_REFUSED:
            return first
        refused += 1
        if not unit_open(text[:k]):
            return k
        last = k
    if not final:
        return None
    return last if last is not None else first


def _unit_end(text: str, end: int, cursor: Cursor, final: bool) -> int | None:
    """`end`, or past the `{` line that follows it (Allman style); None while that line may still come."""
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


def _compound_end(text: str, end: int, header: str | None, cursor: Cursor, *, final: bool) -> int | None:
    """On a line of its own, a statement that opens a block (`for ...:`, `if (...) {`) goes on to the
    end of that block: the first line back at the header's indentation (a closing `}` included,
    `else`/`} else {` continuing)."""
    base = indent_width(header or "")
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


def _statement_ends(
    text: str, cursor: Cursor, *, final: bool = True
) -> Iterator[tuple[int, str | None, bool] | None]:
    """The line ends where the statement may end, in order, each with its line when it is a block
    header and whether only the syntax tree can tell (soft); None when the text ends before the next
    one can be decided (more may follow)."""
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
                yield pos, None, False  # the model ended the line right at the cursor
            continue
        if sc.newline_in_literal[j]:
            continue
        code = _code_end(full, cursor)
        if not code.strip():
            continue  # a comment line on its own: the statement follows it
        if depth < 0:
            yield pos, None, False
            continue
        if cursor.syntax.indent_blocks:
            if depth > 0 or _CONT_END_PY.search(code):
                continue
            yield pos, (full if code.endswith(":") else None), False
            continue
        if code.endswith("{"):
            yield pos, full, False
            continue
        if depth > 0:
            continue
        if _CONT_END_C.search(code):
            if code.endswith(">"):
                yield pos, None, True
            continue
        nxt = _next_code_start(text, pos + 1)
        if nxt is None:
            if not final:
                yield None  # the next line may continue the expression
                return
            yield pos, None, False
            continue
        if _CONT_START_C.search(nxt):
            continue
        yield pos, None, False


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
