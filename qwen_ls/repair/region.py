"""Choosing the lines a fix may rewrite: a few lines around each diagnostic, widened to whole
statements where a grammar exists, merged when diagnostics overlap.

Whole statements give the model a coherent piece of code to rewrite and keep the verifier's parse of
the region meaningful. A region never grows past `max_region_lines` through widening (a diagnostic that
is itself longer keeps its own lines). "Missing return" diagnostics are moved to the end of their
function, where the fix goes (mypy reports them on the `def` line).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qwen_ls import syntax
from qwen_ls.repair import checks
from qwen_ls.repair.data import Diagnostic, Region
from qwen_ls.repair.text import line_offsets, split_lines

#: Nodes whose named children are statements (declarations, members, cases).
_BLOCKS = {
    "module",
    "block",
    "program",
    "translation_unit",
    "compound_statement",
    "statement_block",
    "class_body",
    "interface_body",
    "enum_body",
    "enum_body_declarations",
    "constructor_body",
    "declaration_list",
    "field_declaration_list",
    "source_file",
    "statement_list",
    "switch_block",
    "switch_block_statement_group",
    "switch_case",
    "switch_default",
    "case_statement",
    "expression_case",
    "default_case",
    "type_case",
    "communication_case",
    "match_block",
}


def _last_row(node: Any) -> int:
    row: int = node.end_point[0]
    if node.end_point[1] == 0 and row > node.start_point[0]:
        row -= 1
    return row


def _statement_spans(tree: Any, first: int, last: int) -> list[tuple[int, int]]:
    """(first, last) lines of statements that intersect lines first..last, at every depth."""
    spans = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        is_block = node.type in _BLOCKS or node.parent is None
        for child in node.named_children:
            start, end = child.start_point[0], _last_row(child)
            if start > last or end < first:
                continue
            if is_block or child.type == "ERROR":
                spans.append((start, end))
            stack.append(child)
    return spans


def widen_to_statements(
    tree: Any, first: int, last: int, max_lines: int, keep: tuple[int, int] | None = None
) -> tuple[int, int]:
    """Grow lines first..last until no statement is cut, as long as the region fits in max_lines."""
    keep_first, keep_last = keep or (first, last)
    limit = max(max_lines, keep_last - keep_first + 1)
    for _ in range(32):
        changed = False
        spans = sorted(_statement_spans(tree, first, last), key=lambda s: s[1] - s[0])
        for start, end in spans:
            if start >= first and end <= last:
                continue  # inside
            if start < first and end >= last:
                continue  # a statement around the whole region (its function): the region is inside it
            new_first, new_last = min(first, start), max(last, end)
            if new_last - new_first + 1 <= limit:
                first, last, changed = new_first, new_last, True
                break
        if not changed:
            break
    return first, last


def _trim_blank_edges(lines: Sequence[str], first: int, last: int, keep: tuple[int, int]) -> tuple[int, int]:
    while first < keep[0] and not lines[first].strip():
        first += 1
    while last > keep[1] and not lines[last].strip():
        last -= 1
    return first, last


def select_regions(
    text: str,
    diagnostics: Sequence[Diagnostic],
    language: str | None,
    context_lines: int = 3,
    max_region_lines: int = 40,
) -> list[Region]:
    """One region per group of overlapping diagnostics, in document order."""
    if not diagnostics:
        return []
    offsets = line_offsets(text)
    n_lines = len(offsets)
    tree = syntax.parse(text, syntax.family(language))
    raw = split_lines(text)
    spans: list[tuple[int, int, list[Diagnostic]]] = []
    for diag in diagnostics:
        d_first = min(max(diag.start_line, 0), n_lines - 1)
        d_last = min(max(diag.end_line, d_first), n_lines - 1)
        if diag.end_line > diag.start_line and diag.end_character == 0:
            d_last = max(d_first, d_last - 1)  # a range ending at column 0 ends on the line before
        if checks.classify(diag).kind == checks.MISSING_RETURN:
            func = checks.enclosing_function(text, language, d_first)
            if func is not None:
                d_first = d_last = func[1]  # the fix goes at the end of the function
                while d_last + 1 < n_lines and not raw[d_last + 1].strip():
                    d_last += 1  # and after its trailing blank lines, where a final return would sit
        first = max(0, d_first - context_lines)
        last = min(n_lines - 1, d_last + context_lines)
        if checks.classify(diag).kind == checks.MISSING_RETURN:
            last = d_last  # nothing after the end of the function is needed
        if tree is not None:
            first, last = widen_to_statements(tree, first, last, max_region_lines, keep=(d_first, d_last))
        first, last = _trim_blank_edges(raw, first, last, (d_first, d_last))
        spans.append((first, last, [diag]))
    spans.sort(key=lambda s: (s[0], s[1]))
    merged: list[tuple[int, int, list[Diagnostic]]] = []
    for first, last, diags in spans:
        if merged and first <= merged[-1][1] + 1:
            m_first, m_last, m_diags = merged[-1]
            merged[-1] = (m_first, max(m_last, last), m_diags + diags)
        else:
            merged.append((first, last, diags))
    regions = []
    for first, last, diags in merged:
        start = offsets[first]
        end = offsets[last + 1] if last + 1 < n_lines else len(text)
        regions.append(Region(first, last, start, end, tuple(diags)))
    return regions


def region_for(
    text: str,
    diagnostic: Diagnostic,
    language: str | None,
    context_lines: int = 3,
    max_region_lines: int = 40,
) -> Region:
    """The region one diagnostic's fix may rewrite."""
    return select_regions(text, [diagnostic], language, context_lines, max_region_lines)[0]
