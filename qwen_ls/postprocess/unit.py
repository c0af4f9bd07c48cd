"""Unit completeness from the syntax tree: does a cut of the completion end the unit begun at the cursor?

The statement rule (`statement`) proposes line ends from brackets and continuation tokens; this module
vetoes the ones where the syntax tree of prefix + cut + suffix says the unit is not complete:

- the cut ends on a line that only decorates what follows (a C# attribute list, a Java annotation, a
  Python or TypeScript decorator, a Rust `#[...]`): the decorated declaration must follow, up to the
  opening of its body;
- a node that begins on the cursor's line (or, on an empty line, where the completion's code begins)
  goes on past the cut: an opening JSX/TSX tag whose attributes continue, a template literal, a
  signature whose `throws`/`where` clause is still to come; unless the cut ends with the `{` (or the
  Python `:`, or the `>` of a JSX opening tag) that opens a body, which is where a header's unit ends;
- the parser had to invent a token right at the cut (a MISSING `;` or `>`), or an error node spans the
  cut that begins in the unit or that the document without the completion does not have: the cut
  itself broke the code.

Where the code after the cursor already holds the rest (the decorated method, the tag's attributes), the
model's next lines repeat it and the suffix-overlap filter cuts them off again, so the decoration or
the tag's first line is what remains.

Everything is decided from prefix + text[:k] + suffix alone, so the stream stopper, which sees the text
line by line, reaches the same decision as the final pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qwen_ls import syntax
from qwen_ls.postprocess.cursor import Cursor
from qwen_ls.postprocess.syntax_trim import DocSyntax

#: Nodes that hold a list of statements or declarations: never the unit itself, even where they begin
#: with it (a Python `block` begins at its first statement, a `module` at the file's first line).
_CONTAINERS = frozenset({"block", "module", "program", "source_file", "compilation_unit", "translation_unit"})


def _unit_start(doc: DocSyntax, cursor: Cursor, middle: bytes) -> int:
    """Byte offset where the unit begins: the code of the cursor line, or of the completion."""
    if cursor.line_has_code:
        ws = len(cursor.line_prefix) - len(cursor.line_prefix.lstrip())
        return doc.line_start_byte + len(cursor.line_prefix[:ws].encode("utf-8"))
    return doc.cursor_byte + len(middle) - len(middle.lstrip())


def _decoration(leaf: Any) -> Any | None:
    """The decoration node (attribute list, annotation, decorator) that `leaf` is part of, if any."""
    node = leaf
    while node is not None:
        if node.type in syntax.DECORATIONS:
            return node
        node = node.parent
    return None


def _opens_body(leaf: Any) -> bool:
    """The `{` of a block or literal, the `>` of a JSX opening tag, or the `:` of a Python block header."""
    if leaf.type == "{":
        return True
    if leaf.type == ">":
        return leaf.parent is not None and leaf.parent.type == "jsx_opening_element"
    if leaf.type == ":":
        nxt = leaf.next_named_sibling
        return nxt is not None and nxt.type == "block"
    return False


def _broken_at(doc: DocSyntax, root: Any, cut: int, unit_start: int) -> bool:
    """A MISSING token at the cut, or an error node that spans the cut and that the cut made: it
    begins in the unit, or the document without the completion has no error at the cursor."""
    spanning = False
    for node in syntax.error_nodes(root, unit_start):
        if node.is_missing:
            if node.start_byte == cut:
                return True
        elif node.start_byte < cut < node.end_byte:
            if node.start_byte >= unit_start:
                return True
            spanning = True
    if not spanning:
        return False
    cursor = doc.cursor_byte
    before = doc.tree("").root_node
    return not any(
        n.start_byte <= cursor <= n.end_byte for n in syntax.error_nodes(before, cursor, cursor + 1)
    )


def unit_open(doc: DocSyntax, cursor: Cursor, middle: str) -> bool:
    """Whether the completion cut to `middle` leaves the unit at the cursor unfinished."""
    if not doc.available:
        return False
    mb = middle.encode("utf-8")
    if not mb.strip():
        if not cursor.line_has_code:
            return False
        middle = ""  # the model ended the line at the cursor: is the cursor line complete as it is?
    cut = doc.cursor_byte + len(mb.rstrip())
    start = _unit_start(doc, cursor, mb)
    root = doc.tree(middle).root_node
    leaf = syntax.last_leaf_before(root, cut)
    if leaf is None or leaf.end_byte <= start:
        return False
    if _decoration(leaf) is not None:
        return True
    if _opens_body(leaf):
        return False
    node = leaf.parent
    while node is not None and node.start_byte >= start and node.type not in _CONTAINERS:
        if node.end_byte > cut and not node.is_error:
            return True
        node = node.parent
    return _broken_at(doc, root, cut, start)


def unit_checker(doc: DocSyntax, cursor: Cursor) -> Callable[[str], bool] | None:
    """`unit_open` bound to a document and cursor, or None without a grammar."""
    if not doc.available:
        return None
    return lambda middle: unit_open(doc, cursor, middle)
