"""A small code scanner: bracket depth, strings and comments, for post-processing decisions.

Post-processing only ever looks at the current line and the completion, so this is a lexer, not a
parser: it knows the comment and string syntax of a language family well enough to ignore brackets
inside strings and comments. Depth is counted relative to the cursor, so a closer that makes it
negative closes something opened before the cursor (an auto-closed bracket, the enclosing block).
"""

from __future__ import annotations

from dataclasses import dataclass, field

OPENERS = "([{"
CLOSERS = ")]}"
PAIRS = {")": "(", "]": "[", "}": "{"}

#: Languages whose blocks are delimited by indentation rather than braces.
INDENT_LANGUAGES = frozenset({"python"})


@dataclass(frozen=True)
class Syntax:
    """What the lexer needs to know about a language."""

    line_comments: tuple[str, ...] = ("//",)
    block_comment: tuple[str, str] | None = ("/*", "*/")
    quotes: str = "\"'`"
    triple_quotes: bool = False
    indent_blocks: bool = False


PYTHON = Syntax(
    line_comments=("#",), block_comment=None, quotes="\"'", triple_quotes=True, indent_blocks=True
)
C_LIKE = Syntax()
# Rust uses ' for lifetimes and Go ` for raw strings; both are handled by `_char_literal_only`.
_CHAR_QUOTE_ONLY = frozenset({"rust", "c", "cpp", "java", "csharp", "go"})


def syntax_for(language: str | None) -> Syntax:
    if language in INDENT_LANGUAGES:
        return PYTHON
    if language in ("c", "cpp", "java", "csharp", "rust"):
        return Syntax(quotes="\"'")
    return C_LIKE


@dataclass
class LexState:
    """Where the scanner is: inside a string (its quote), a block comment, or code."""

    quote: str | None = None
    block_comment: bool = False
    stack: list[str] = field(default_factory=list)


@dataclass
class Scan:
    """The result of scanning a completion from the cursor."""

    #: Offset of the first character that closes something opened before the cursor, and that character.
    #: For a cursor inside a string, the closing quote counts too.
    first_unmatched: int | None = None
    unmatched_char: str = ""
    #: Every closer that reaches a new lowest depth (closes one more prefix bracket): (offset, char).
    unmatched: list[tuple[int, str]] = field(default_factory=list)
    #: Bracket depth relative to the cursor at each newline, in order (negative: closed prefix brackets).
    newline_depths: list[int] = field(default_factory=list)
    #: Whether each newline was inside a string or block comment.
    newline_in_literal: list[bool] = field(default_factory=list)
    depth: int = 0
    state: LexState = field(default_factory=LexState)
    #: Whether the text ends inside a line comment.
    in_line_comment: bool = False


def _starts(text: str, i: int, token: str) -> bool:
    return text.startswith(token, i)


def scan(text: str, syntax: Syntax, state: LexState | None = None, *, language: str | None = None) -> Scan:
    """Scan `text` starting in `state` (default: code). Brackets opened before the start are unknown,
    so depth starts at 0; a closing quote of a string begun before the start is reported as unmatched.

    Longer than the house limit on purpose: one character-level state machine (newline, line comment,
    block comment, string, code) whose branches share `i`, `depth` and the open quote; split into
    helpers it would need that state passed back and forth, and it runs on every streamed chunk, where
    a call per character costs."""
    st = LexState(state.quote, state.block_comment, []) if state else LexState()
    initial_quote = st.quote
    out = Scan(state=st)
    depth = 0
    lowest = 0
    i = 0
    n = len(text)
    in_line_comment = False
    char_quote_only = language in _CHAR_QUOTE_ONLY
    while i < n:
        c = text[i]
        if c == "\n":
            out.newline_depths.append(depth)
            out.newline_in_literal.append(st.block_comment or (st.quote is not None and len(st.quote) == 3))
            in_line_comment = False
            if st.quote is not None and len(st.quote) == 1 and st.quote != "`":
                # an unterminated one-line string ends at the newline (an error the parser will see)
                if st.quote == initial_quote and out.first_unmatched is None:
                    initial_quote = None
                st.quote = None
            i += 1
            continue
        if in_line_comment:
            i += 1
            continue
        if st.block_comment:
            assert syntax.block_comment is not None
            end = syntax.block_comment[1]
            if _starts(text, i, end):
                st.block_comment = False
                i += len(end)
            else:
                i += 1
            continue
        if st.quote is not None:
            if c == "\\":
                i += 2
                continue
            if _starts(text, i, st.quote):
                if initial_quote is not None and st.quote == initial_quote and out.first_unmatched is None:
                    out.first_unmatched = i
                    out.unmatched_char = st.quote
                    out.unmatched.append((i, st.quote))
                    initial_quote = None
                i += len(st.quote)
                st.quote = None
            else:
                i += 1
            continue
        if any(_starts(text, i, tok) for tok in syntax.line_comments):
            in_line_comment = True
            i += 1
            continue
        if syntax.block_comment is not None and _starts(text, i, syntax.block_comment[0]):
            st.block_comment = True
            i += len(syntax.block_comment[0])
            continue
        if c in syntax.quotes:
            if syntax.triple_quotes and _starts(text, i, c * 3):
                st.quote = c * 3
                i += 3
                continue
            if c == "'" and char_quote_only and not _is_char_literal(text, i):
                i += 1  # a Rust lifetime or a stray apostrophe
                continue
            st.quote = c
            i += 1
            continue
        if c in OPENERS:
            st.stack.append(c)
            depth += 1
        elif c in CLOSERS:
            if st.stack and st.stack[-1] == PAIRS[c]:
                st.stack.pop()
            depth -= 1
            if depth < lowest:
                lowest = depth
                out.unmatched.append((i, c))
                if out.first_unmatched is None:
                    out.first_unmatched = i
                    out.unmatched_char = c
        i += 1
    out.depth = depth
    out.in_line_comment = in_line_comment
    return out


def _is_char_literal(text: str, i: int) -> bool:
    """'x' or '\\n' style literal starting at i."""
    if i + 2 < len(text) and text[i + 1] != "\\" and text[i + 2] == "'":
        return True
    if i + 1 < len(text) and text[i + 1] == "\\":
        j = text.find("'", i + 2, i + 12)
        return j != -1
    return False


def state_at_end(line: str, syntax: Syntax, language: str | None = None) -> LexState:
    """The lexer state after `line` (used for the text before the cursor on its line)."""
    return scan(line, syntax, language=language).state
