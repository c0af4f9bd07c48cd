"""The server's own detectors: what it can find by itself, so that a fix can be checked, not trusted.

- `classify` reads any tool's diagnostic (pyflakes, ruff, pyright, mypy, javac, clang, gcc, tsc, go,
  rustc spellings) and says what kind of problem it is, with the symbol it names when there is one.
- `syntax_problems`: tree-sitter ERROR/MISSING nodes, plus Python's own `compile()`.
- `python_undefined_names`: a pyflakes-like check (ast + symtable) for names that resolve nowhere.
- `missing_returns`: functions declared to return a value whose body can fall off its end (Python with
  ast; Java, C, C++ and Go with tree-sitter).
"""

from __future__ import annotations

import ast
import builtins
import re
import symtable
import warnings
from dataclasses import dataclass
from typing import Any

from qwen_ls import syntax
from qwen_ls.repair.data import Diagnostic

# Re-exported: the verifier, regions and fault injection use them as `checks.<name>`.
from qwen_ls.repair.returns import (  # noqa: F401
    _FUNCTION_TYPES,
    FunctionSpan,
    _declares_value,
    _is_stub,
    _last_row,
    _ts_function_returns_value,
    _ts_named,
    enclosing_function,
    missing_returns,
    python_missing_returns,
    tree_sitter_missing_returns,
)

# --------------------------------------------------------------------------- classification

SYNTAX = "syntax"
UNDEFINED_NAME = "undefined-name"
MISSING_RETURN = "missing-return"
OTHER = "other"

_Q = r"""['"`‘’“”]"""
_NAME_PATTERNS = [
    re.compile(rf"undefined name {_Q}?([\w$]+)", re.I),  # pyflakes F821, ruff
    re.compile(rf"name {_Q}([\w$]+){_Q} is not defined", re.I),  # mypy, CPython NameError
    re.compile(rf"{_Q}([\w$]+){_Q} is not defined", re.I),  # pyright reportUndefinedVariable, eslint no-undef
    re.compile(rf"undefined variable {_Q}?([\w$]+)", re.I),  # pylint E0602
    re.compile(rf"unresolved reference {_Q}([\w$]+){_Q}", re.I),  # PyCharm
    re.compile(rf"use of undeclared identifier {_Q}([\w$]+){_Q}", re.I),  # clang
    re.compile(rf"{_Q}([\w$]+){_Q} was not declared in this scope", re.I),  # gcc
    re.compile(r"cannot find symbol[\s\S]*?symbol:\s*(?:variable|method|class)\s+([\w$]+)", re.I),  # javac
    re.compile(rf"cannot find (?:name|symbol) {_Q}([\w$]+){_Q}", re.I),  # tsc 2304
    re.compile(r"\bundefined: ([\w$]+)"),  # go
    re.compile(r"cannot find (?:value|function) `([\w$]+)` in this scope"),  # rustc E0425
    re.compile(rf"{_Q}([\w$]+){_Q} is undefined", re.I),
    re.compile(r"package ([\w$]+) does not exist"),  # javac, for `Systen.out`
    re.compile(rf"{_Q}([\w$]+){_Q} is not a member of", re.I),  # gcc: 'ccout' is not a member of 'std'
    re.compile(rf"no member named {_Q}([\w$]+){_Q}", re.I),  # clang
    re.compile(rf"the name {_Q}([\w$]+){_Q} does not exist", re.I),  # C# CS0103
]
_NAME_CODES = {
    "f821",
    "e0602",
    "reportundefinedvariable",
    "undeclared_var_use",
    "2304",
    "e0425",
    "name-defined",
}

_MISSING_RETURN = re.compile(
    r"missing return|control reaches end of non-void function|non-void function does not return"
    r"|not all code paths return a value|must return a value|inconsistent-return-statements"
    r"|either all return statements|does not return a value in all control paths"
    r"|no return statement in function returning non-void",
    re.I,
)
_MISSING_RETURN_CODES = {"return", "r1710", "7030", "-wreturn-type", "return-type"}

_SYNTAX = re.compile(
    r"\bsyntax\b|invalid syntax|unexpected (?:token|indent|unindent|eof|end|character|identifier)"
    r"|unindent does not match|expected an indented block|inconsistent use of tabs"
    rf"|expected {_Q}[^\w\s'\"`]{{1,3}}{_Q}|{_Q}[^\w\s]{{1,3}}{_Q} expected"
    r"|never closed|does not match opening"
    r"|unterminated|unmatched|unclosed|parse error|parsing error|expected expression|expected statement"
    rf"|missing {_Q}?[;:)\]}}]|expected declaration|expected unqualified-id|illegal start of"
    r"|extraneous|stray|unbalanced|mismatched|reached end of file"
    r"|class, interface, enum,? or record expected"
    rf"|before {_Q}[^\s'\"`‘’“”]+{_Q} token|at end of input|is not allowed here|without a previous"
    r"|expected primary-expression|does not name a type",
    re.I,
)
_SYNTAX_CODES = {"e999", "e0001", "syntax-error", "invalid-syntax", "syntax", "1005", "1002", "1003", "1109"}


@dataclass(frozen=True)
class Classified:
    kind: str
    #: The symbol the diagnostic is about (undefined names), when it names one.
    name: str | None = None


def classify(diagnostic: Diagnostic) -> Classified:
    """What kind of problem a diagnostic describes, from its message and code (any tool's spelling)."""
    message = diagnostic.message
    code = (diagnostic.code or "").lower()
    for pattern in _NAME_PATTERNS:
        m = pattern.search(message)
        if m:
            return Classified(UNDEFINED_NAME, m.group(1))
    if code in _NAME_CODES:
        return Classified(UNDEFINED_NAME, None)
    if _MISSING_RETURN.search(message) or code in _MISSING_RETURN_CODES:
        return Classified(MISSING_RETURN)
    if _SYNTAX.search(message) or code in _SYNTAX_CODES:
        return Classified(SYNTAX)
    return Classified(OTHER)


# --------------------------------------------------------------------------- syntax


@dataclass(frozen=True)
class Problem:
    """Something the server found by itself: zero-based lines, inclusive."""

    start_line: int
    end_line: int
    message: str

    def overlaps(self, first: int, last: int) -> bool:
        return self.start_line <= last and self.end_line >= first


def python_compile_error(text: str, filename: str = "<document>") -> Problem | None:
    """The first error `compile()` reports (SyntaxError, IndentationError, ...), or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = max((exc.lineno or 1) - 1, 0)
        end = max((exc.end_lineno or exc.lineno or 1) - 1, line)
        return Problem(line, end, f"{type(exc).__name__}: {exc.msg}")
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return Problem(0, 0, f"{type(exc).__name__}: {exc}")
    return None


def tree_sitter_problems(text: str, language: str | None) -> list[Problem] | None:
    """ERROR and MISSING nodes as problems; None without a grammar."""
    tree = syntax.parse(text, language)
    if tree is None:
        return None
    problems = []
    for node in syntax.error_nodes(tree.root_node):
        kind = f"missing {node.type!r}" if node.is_missing else "syntax error"
        problems.append(Problem(node.start_point[0], _last_row(node), f"{kind} (tree-sitter)"))
    problems.sort(key=lambda p: (p.start_line, p.end_line))
    return problems


def syntax_problems(text: str, language: str | None) -> list[Problem] | None:
    """Everything the server finds wrong with the syntax; None when it has no way to tell."""
    found = tree_sitter_problems(text, language)
    if syntax.family(language) == "python":
        err = python_compile_error(text)
        found = (found or []) + ([err] if err else [])
    return found


# --------------------------------------------------------------------------- Python names

_MODULE_NAMES = {
    "__name__",
    "__file__",
    "__doc__",
    "__spec__",
    "__loader__",
    "__package__",
    "__builtins__",
    "__path__",
    "__annotations__",
    "__dict__",
    "__module__",
    "__qualname__",
    "__class__",
    "__debug__",
    "WindowsError",
}
_BUILTINS = frozenset(dir(builtins)) | _MODULE_NAMES


@dataclass(frozen=True)
class NameUse:
    name: str
    line: int  # zero-based
    character: int


def python_undefined_names(text: str) -> list[NameUse] | None:
    """Uses of names that are bound nowhere (not local, enclosing, module-level or builtin).

    None when the text does not parse or uses `from x import *` (then nothing can be said).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text)
            table = symtable.symtable(text, "<document>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            return None
    module_bound: set[str] = set()
    unresolved: set[str] = set()
    stack = [table]
    while stack:
        scope = stack.pop()
        stack.extend(scope.get_children())
        is_module = scope.get_type() == "module"  # a str before 3.13, a StrEnum after
        for sym in scope.get_symbols():
            name = sym.get_name()
            bound_here = sym.is_assigned() or sym.is_imported() or sym.is_parameter() or sym.is_namespace()
            if (is_module and bound_here) or (
                sym.is_declared_global() and (sym.is_assigned() or sym.is_imported() or sym.is_namespace())
            ):
                module_bound.add(name)
            if sym.is_referenced() and (is_module or sym.is_global()) and not (is_module and bound_here):
                if scope.get_type() == "class" and bound_here:
                    continue
                unresolved.add(name)
    undefined = unresolved - module_bound - _BUILTINS
    if not undefined:
        return []
    uses = [
        NameUse(node.id, node.lineno - 1, node.col_offset)
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in undefined
    ]
    uses.sort(key=lambda u: (u.line, u.character))
    return uses


def identifier_lines(text: str, language: str | None, name: str) -> list[int] | None:
    """Lines where `name` is used as an identifier (any grammar); None without a grammar."""
    tree = syntax.parse(text, language)
    if tree is None:
        return None
    wanted = name.encode("utf-8")
    lines = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.child_count == 0:
            # a label (`R:` / `goto R`) is not a use of a variable named R
            if node.text == wanted and "identifier" in node.type and node.type != "statement_identifier":
                lines.append(node.start_point[0])
            continue
        stack.extend(node.children)
    return sorted(lines)


def declares(text: str, language: str | None, name: str) -> bool:
    """Whether the file declares `name` somewhere (a declarator, a declaration or a parameter)."""
    tree = syntax.parse(text, language)
    if tree is None:
        return False
    wanted = name.encode("utf-8")
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.child_count == 0:
            parent = node.parent
            if (
                node.text == wanted
                and "identifier" in node.type
                and parent is not None
                and any(word in parent.type for word in ("declarator", "declaration", "parameter"))
            ):
                return True
            continue
        stack.extend(node.children)
    return False


# --------------------------------------------------------------------------- likely typos

#: (parent type, field) pairs whose identifier is a member or qualified name: its declaration may live
#: in another file or a library, so it says nothing about typos.
_MEMBER_FIELDS = {
    ("field_access", "field"),
    ("qualified_identifier", "name"),
    ("scoped_identifier", "name"),
    ("selector_expression", "field"),
    ("member_expression", "property"),
}


def _is_plain(node: Any) -> bool:
    if node.type != "identifier":
        return False
    parent = node.parent
    if parent is None:
        return True
    if parent.type in ("call_expression", "method_invocation") and (
        parent.child_by_field_name("function") == node or parent.child_by_field_name("name") == node
    ):
        return False  # a called name may be a library function (`max`, `printf`) declared elsewhere
    return not any(
        parent.type == parent_type and parent.child_by_field_name(field) == node
        for parent_type, field in _MEMBER_FIELDS
    )


def identifier_counts(
    text: str, language: str | None, start_line: int = 0, end_line: int | None = None, plain: bool = False
) -> dict[str, int]:
    """How often each identifier occurs (optionally only on lines start_line..end_line; with `plain`,
    only names that are not members or qualified names)."""
    tree = syntax.parse(text, language)
    counts: dict[str, int] = {}
    if tree is None:
        return counts
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if end_line is not None and node.start_point[0] > end_line:
            continue
        if _last_row(node) < start_line:
            continue
        if node.child_count == 0:
            if "identifier" in node.type and node.text and (not plain or _is_plain(node)):
                name = node.text.decode("utf-8", "replace")
                counts[name] = counts.get(name, 0) + 1
            continue
        stack.extend(node.children)
    return counts


def edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Damerau-Levenshtein distance (adjacent swaps count 1), or limit + 1 when larger."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def likely_typos(
    old_doc: str, new_doc: str, language: str | None, old_lines: tuple[int, int], new_lines: tuple[int, int]
) -> list[tuple[str, str | None]]:
    """Plain names a fix brings into its region that occur nowhere else in the file (so nothing declares
    them) and are either one keystroke away from a name the file has, or one or two characters long
    (a declared short name always occurs at least twice): (name, the name it looks like or None)."""
    old_all = identifier_counts(old_doc, language)
    new_all = identifier_counts(new_doc, language)
    new_region = identifier_counts(new_doc, language, *new_lines, plain=True)
    found: list[tuple[str, str | None]] = []
    for name, n in new_region.items():
        if n != 1 or new_all.get(name, 0) != 1 or name in old_all:
            continue
        if len(name) <= 2:
            found.append((name, None))
            continue
        for known in old_all:
            if known != name and edit_distance(name, known, 1) <= 1:
                found.append((name, known))
                break
    return sorted(found, key=lambda pair: pair[0])
