"""A cursor in the middle of a line, with code to its right: the completion is at most the rest of
that line, and it must stop where the code to the right takes over.

It stops before the first character that closes a bracket or string opened before the cursor, and
before a tail that only repeats the text to the right. When the model wrote the closing characters
the editor auto-closed (`)`, `")`), the completion keeps them and its range covers them
(`replace_end`) instead of duplicating them.
"""

from __future__ import annotations

from qwen_ls.postprocess.cursor import Cursor
from qwen_ls.postprocess.lexer import scan

_CLOSERS_AND_QUOTES = ")]}\"'`"
_AUTO_CLOSED = _CLOSERS_AND_QUOTES + ";,"


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


def fit_before_right(text: str, cursor: Cursor) -> tuple[str, int]:
    """The first line of `text` cut to fit before the code right of the cursor, and how many characters
    of that code the completion's range covers."""
    line = text.split("\n", 1)[0]
    right = cursor.line_suffix
    right_code = right.lstrip()
    cuts = [len(line)]
    sc = scan(line, cursor.syntax, cursor.state, language=cursor.language)
    # The first closer of a prefix bracket (or string) that the code to the right closes itself.
    for pos, char in sc.unmatched:
        if right_code.startswith(char):
            cuts.append(pos)
            break
    # The code to the right, written out in full inside the completion.
    if len(right_code.strip()) >= 3 and any(_is_word(c) for c in right_code):
        pos = line.find(right_code.strip())
        while pos > 0 and _is_word(line[pos - 1]) and _is_word(line[pos]):
            pos = line.find(right_code.strip(), pos + 1)
        if pos >= 0:
            cuts.append(pos)
    for k in range(len(line)):
        if k > 0 and _is_word(line[k - 1]) and _is_word(line[k]):
            continue  # only at token boundaries
        tail = line[k:].strip()
        if not tail or not right_code.startswith(tail):
            continue
        if any(_is_word(c) for c in tail) and len(tail) < 3:
            continue
        cuts.append(k)
        break
    # Short punctuation to the right (`;`, `,`, `) {`): its first occurrence in code, outside brackets.
    if right_code.strip() and not any(_is_word(c) for c in right_code):
        token = right_code.strip()
        pos = line.find(token)
        while pos != -1:
            sc_before = scan(line[:pos], cursor.syntax, cursor.state, language=cursor.language)
            if sc_before.depth == 0 and sc_before.state.quote is None and not sc_before.state.block_comment:
                if not sc_before.in_line_comment:
                    cuts.append(pos)
                break
            pos = line.find(token, pos + 1)
    cut = min(cuts)
    kept = line[:cut]
    rest = line[cut:]
    covered = 0
    if all(c in _AUTO_CLOSED or c.isspace() for c in right):
        # only what an editor auto-closes (brackets, quotes) is covered, never other code
        while covered < len(rest) and covered < len(right) and rest[covered] == right[covered]:
            if rest[covered] not in _CLOSERS_AND_QUOTES:
                break
            covered += 1
    if covered:
        return kept + right[:covered], covered
    if right[:1].isspace():
        kept = kept.rstrip()
    return kept, 0
