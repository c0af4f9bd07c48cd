"""The post-processing pipeline: the filters in order, for the stream and for the final text.

Every filter only cuts. `structural_cut` runs the cheap, line-based filters and is what the stream
stopper calls at each line end; `run` adds tree-sitter truncation and the finishing rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qwen_ls.postprocess.brackets import bracket_cut
from qwen_ls.postprocess.cursor import Cursor, indent_width
from qwen_ls.postprocess.indentation import indentation_cut
from qwen_ls.postprocess.mode import Mode
from qwen_ls.postprocess.repetition import repetition_cut
from qwen_ls.postprocess.right_text import fit_before_right
from qwen_ls.postprocess.rules import ALL_ON, Rules
from qwen_ls.postprocess.settings import PostprocessSettings
from qwen_ls.postprocess.statement import statement_end
from qwen_ls.postprocess.suffix_overlap import suffix_line_overlap
from qwen_ls.postprocess.syntax_trim import DocSyntax, syntax_cut, syntax_extend
from qwen_ls.postprocess.unit import unit_checker


@dataclass(frozen=True)
class Cut:
    text: str
    replace_end: int = 0
    #: Which filter cut last (for metrics and debugging), "" when none did.
    by: str = ""
    #: Whether the cut is final: more generated text cannot change it.
    complete: bool = False


UnitOpen = Callable[[str], bool]


def _statement_or_first_line(
    text: str, cursor: Cursor, final: bool, unit: UnitOpen | None, rules: Rules
) -> int | None:
    """The end of the statement; when the final text ends before the statement does (the model ran
    out of tokens), its first line: only complete statements go past the first line."""
    k = statement_end(text, cursor, final=final, unit_open=unit, blocks=rules.compound_blocks)
    if k is None and final:
        first = text.find("\n", len(text) - len(text.lstrip("\n")) if cursor.at_line_start else 0)
        return None if first == -1 else first
    return k


def structural_cut(
    text: str,
    cursor: Cursor,
    mode: Mode,
    settings: PostprocessSettings,
    *,
    final: bool,
    unit: UnitOpen | None = None,
    rules: Rules = ALL_ON,
) -> Cut:
    """Apply the line-based filters; `final` is False while tokens are still streaming in. `unit` (see
    `unit_checker`) lets the syntax tree refuse statement ends that leave the unit unfinished."""
    if cursor.right_has_code and not cursor.inserts_lines:
        if not final and "\n" not in text:
            return Cut(text)
        kept, covered = fit_before_right(text, cursor)
        return Cut(kept, covered, "right-text", True)
    by = ""
    complete = False
    filters = []
    if mode == "single":
        filters.append(("statement", lambda t: _statement_or_first_line(t, cursor, final, unit, rules)))
    else:
        filters.append(("indentation", lambda t: indentation_cut(t, cursor)))
    filters.append(("brackets", lambda t: bracket_cut(t, cursor, end_line=mode == "multi")))
    filters.append(
        ("suffix-overlap", lambda t: suffix_line_overlap(t, cursor, final=final, partial=rules.partial_runon))
    )
    filters.append(("repetition", lambda t: repetition_cut(t, inline_loops=rules.inline_loops)))
    for name, f in filters:
        k = f(text)
        if k is not None and k < len(text):
            text = text[:k]
            by = name
            complete = True
    if settings.max_lines > 0 and mode == "multi":
        lines = text.split("\n")
        if len(lines) > settings.max_lines:
            text = "\n".join(lines[: settings.max_lines])
            by, complete = "max-lines", True
    return Cut(text, 0, by, complete)


def finish(text: str, cursor: Cursor) -> str:
    """Trailing whitespace off; lines inserted before existing code end with a newline."""
    if not text.strip():
        return ""
    text = text.rstrip()
    if cursor.inserts_lines:
        text += "\n"
    return text


def unit_rule(
    doc: DocSyntax, cursor: Cursor, mode: Mode, settings: PostprocessSettings, rules: Rules
) -> UnitOpen | None:
    """The syntax-tree check of statement ends, where it applies (single-line mode, with a grammar)."""
    if mode != "single" or not settings.syntax_aware or not rules.unit_syntax:
        return None
    return unit_checker(doc, cursor)


def run(
    text: str,
    cursor: Cursor,
    mode: Mode,
    doc: DocSyntax,
    settings: PostprocessSettings,
    rules: Rules = ALL_ON,
) -> Cut:
    unit = unit_rule(doc, cursor, mode, settings, rules)
    cut = structural_cut(text, cursor, mode, settings, final=True, unit=unit, rules=rules)
    syntax_aware = settings.syntax_aware
    out, by = cut.text, cut.by
    extend = syntax_aware and rules.syntax_extend
    if extend and by == "statement" and mode == "single" and cursor.line_has_code:
        # the statement may leave constructs open that the code after the cursor never closes
        limit = len(text)
        for k in (
            suffix_line_overlap(text, cursor, partial=rules.partial_runon),
            repetition_cut(text, inline_loops=rules.inline_loops),
        ):
            if k is not None:
                limit = min(limit, k)
        k = syntax_extend(text[:limit], len(out), doc, indent_width(cursor.line_prefix))
        if k is not None:
            out, by = text[:k], "syntax-extend"
    if syntax_aware and rules.syntax_cut and not cut.replace_end and "\n" in out.strip():
        k = syntax_cut(out, doc, whole_lines=cursor.inserts_lines, unit_open=unit)
        if k is not None:
            out, by = out[:k], "syntax"
    return Cut(finish(out, cursor), cut.replace_end, by, True)
