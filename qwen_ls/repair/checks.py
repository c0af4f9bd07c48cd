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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from qwen_ls import syntax
from qwen_ls.repair.data import Diagnostic

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


def _last_row(node: Any) -> int:
    """The last line a node really occupies (a node ending at column 0 ends on the line before)."""
    row: int = node.end_point[0]
    if node.end_point[1] == 0 and row > node.start_point[0]:
        row -= 1
    return row


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


# --------------------------------------------------------------------------- missing returns


@dataclass(frozen=True)
class FunctionSpan:
    """A function that is declared to return a value but can reach the end of its body."""

    name: str
    start_line: int
    end_line: int


_EXIT_CALLS = {"sys.exit", "exit", "quit", "os._exit", "os.abort", "sys.abort"}


def _call_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _own_nodes(func: ast.AST) -> Iterable[ast.AST]:
    """Nodes of a function's body, not descending into nested functions, lambdas or classes."""
    stack = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(node))


def _has_break(stmts: list[ast.stmt]) -> bool:
    stack: list[ast.AST] = list(stmts)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Break):
            return True
        if isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
            stack.extend(node.orelse)  # a break in a nested loop leaves that loop only
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


def _py_completes(stmts: list[ast.stmt]) -> bool:
    """Whether control can run off the end of `stmts` (a conservative version of mypy's rule)."""
    return all(_py_stmt_completes(s) for s in stmts)


def _py_stmt_completes(stmt: ast.stmt) -> bool:
    if isinstance(stmt, (ast.Return, ast.Raise)):
        return False
    if isinstance(stmt, ast.Expr) and _call_name(stmt.value) in _EXIT_CALLS:
        return False
    if isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Constant) and not stmt.test.value:
        return False
    if isinstance(stmt, ast.If):
        return _py_completes(stmt.body) or _py_completes(stmt.orelse)
    if isinstance(stmt, ast.While):
        if isinstance(stmt.test, ast.Constant) and stmt.test.value:
            return _has_break(stmt.body)
        return True
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return _py_completes(stmt.body)
    if isinstance(stmt, ast.Try) or (hasattr(ast, "TryStar") and isinstance(stmt, ast.TryStar)):
        if not _py_completes(stmt.finalbody):
            return False
        body = _py_completes(stmt.body) and _py_completes(stmt.orelse)
        return body or any(_py_completes(h.body) for h in stmt.handlers)
    if isinstance(stmt, ast.Match):
        irrefutable = any(
            case.guard is None
            and (
                isinstance(case.pattern, ast.MatchAs)
                and case.pattern.pattern is None  # `case _:` or a bare capture
            )
            for case in stmt.cases
        )
        return not irrefutable or any(_py_completes(case.body) for case in stmt.cases)
    return True


def _is_stub(body: list[ast.stmt]) -> bool:
    for stmt in body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # docstring or `...`
        return False
    return True


def _declares_value(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    ann = func.returns
    if ann is not None:
        if isinstance(ann, ast.Constant) and ann.value is None:
            return False
        text = ast.unparse(ann)
        return text.rsplit(".", 1)[-1].strip("'\"") not in ("None", "NoReturn", "Never", "Any", "object")
    return any(
        isinstance(node, ast.Return)
        and node.value is not None
        and not (isinstance(node.value, ast.Constant) and node.value.value is None)
        for node in _own_nodes(func)
    )


def python_missing_returns(text: str) -> list[FunctionSpan] | None:
    """Functions that return a value somewhere (or are annotated to) but can fall off the end."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in _own_nodes(node)):
            continue
        if _is_stub(node.body) or not _declares_value(node):
            continue
        if _py_completes(node.body):
            start = min([d.lineno for d in node.decorator_list] + [node.lineno]) - 1
            found.append(FunctionSpan(node.name, start, (node.end_lineno or node.lineno) - 1))
    found.sort(key=lambda f: f.start_line)
    return found


_FUNCTION_TYPES = {
    "java": {"method_declaration"},
    "c": {"function_definition"},
    "cpp": {"function_definition"},
    "go": {"function_declaration", "method_declaration"},
}
_RETURN_LIKE = {"return_statement", "throw_statement", "goto_statement"}
_TS_EXIT_CALLS = {
    "exit",
    "abort",
    "_exit",
    "quick_exit",
    "System.exit",
    "panic",
    "os.Exit",
    "log.Fatal",
    "log.Fatalf",
}
_NESTED_BREAK_TARGETS = {
    "switch_statement",
    "switch_expression",
    "expression_switch_statement",
    "lambda_expression",
}
_LOOP_TYPES = {"while_statement", "for_statement", "do_statement", "for_range_loop", "enhanced_for_statement"}


def _ts_named(node: Any) -> list[Any]:
    return [c for c in node.named_children if c.type not in ("comment", "line_comment", "block_comment")]


def _ts_has_break(node: Any) -> bool:
    stack = list(node.named_children)
    while stack:
        n = stack.pop()
        if n.type == "break_statement":
            return True
        if n.type in _LOOP_TYPES or n.type in _NESTED_BREAK_TARGETS:
            continue
        stack.extend(n.named_children)
    return False


def _ts_always_true(cond: Any | None) -> bool:
    if cond is None:
        return True
    text = cond.text.decode("utf-8", "replace").strip().strip("()").strip()
    return text in ("true", "1", "")


def _ts_completes(node: Any) -> bool:
    """Whether control can run off the end of a statement (tree-sitter, C-family and Go)."""
    t = node.type
    if t in _RETURN_LIKE:
        return False
    if t in ("block", "compound_statement", "statement_list", "constructor_body"):
        return all(_ts_completes(c) for c in _ts_named(node))
    if t == "expression_statement":
        inner = _ts_named(node)
        call = inner[0] if inner else None
        if call is not None and call.type in ("call_expression", "method_invocation"):
            fn = call.child_by_field_name("function")
            if fn is None and call.type == "method_invocation":
                obj = call.child_by_field_name("object")
                name = call.child_by_field_name("name")
                fn_text = (obj.text + b"." if obj is not None else b"") + (
                    name.text if name is not None else b""
                )
            else:
                fn_text = fn.text if fn is not None else b""
            if fn_text.decode("utf-8", "replace") in _TS_EXIT_CALLS:
                return False
        return True
    if t == "call_expression":  # Go: a bare call is its own statement
        fn = node.child_by_field_name("function")
        return not (fn is not None and fn.text.decode("utf-8", "replace") in _TS_EXIT_CALLS)
    if t == "if_statement":
        then = node.child_by_field_name("consequence")
        alt = node.child_by_field_name("alternative")
        if alt is None:
            return True
        if alt.type == "else_clause":
            parts = _ts_named(alt)
            alt = parts[-1] if parts else None
        return (then is None or _ts_completes(then)) or (alt is None or _ts_completes(alt))
    if t in ("while_statement", "do_statement"):
        return not _ts_always_true(node.child_by_field_name("condition")) or _ts_has_break(node)
    if t == "for_statement":
        if any(c.type in ("range_clause", "for_clause") for c in node.named_children):
            clause = next(c for c in node.named_children if c.type in ("range_clause", "for_clause"))
            if clause.type == "range_clause" or clause.child_by_field_name("condition") is not None:
                return True
            return _ts_has_break(node)
        cond = node.child_by_field_name("condition")
        if (
            cond is None
            and node.child_by_field_name("body") is not None
            and node.child_by_field_name("init") is None
        ):
            # Go `for { }` or C `for (;;)`
            return _ts_has_break(node)
        if cond is None and any(c.type == ";" for c in node.children):
            return _ts_has_break(node)
        return True
    if t == "try_statement":
        body = node.child_by_field_name("body")
        body_completes = body is None or _ts_completes(body)
        fin = [c for c in node.named_children if c.type == "finally_clause"]
        if fin and not all(_ts_completes(c) for f in fin for c in _ts_named(f)):
            return False
        handlers = [c for c in node.named_children if c.type == "catch_clause"]
        return body_completes or any(
            _ts_completes(h.child_by_field_name("body") or h)
            for h in handlers
            if h.child_by_field_name("body")
        )
    if t in ("switch_statement", "switch_expression"):
        return _ts_switch_completes(node)
    if t in ("labeled_statement", "synchronized_statement"):
        parts = _ts_named(node)
        return not parts or _ts_completes(parts[-1])
    return True


def _ts_switch_completes(node: Any) -> bool:
    """A switch ends normally unless it has a default, no break leaves it, and its last case (or, with
    arrow cases, every case) ends abruptly."""
    body = node.child_by_field_name("body")
    if body is None:
        return True
    kinds = ("switch_block_statement_group", "switch_rule", "case_statement")
    groups = [c for c in body.named_children if c.type in kinds]
    if not groups:
        return True

    def is_default(group: Any) -> bool:
        if group.type == "case_statement":
            return group.child_by_field_name("value") is None
        return any(
            c.type == "switch_label" and c.text.strip().startswith(b"default") for c in group.named_children
        )

    def statements(group: Any) -> list[Any]:
        value = group.child_by_field_name("value")
        return [c for c in _ts_named(group) if c.type != "switch_label" and c != value]

    if not any(is_default(g) for g in groups):
        return True
    if any(g.type == "switch_rule" for g in groups):
        for group in groups:
            stmts = statements(group)
            if not stmts or stmts[-1].type not in ("block", "throw_statement", "return_statement"):
                return True  # `case X -> expression;` ends normally
            if _ts_completes(stmts[-1]):
                return True
        return False
    if _ts_has_break(body):
        return True
    return all(_ts_completes(s) for s in statements(groups[-1]))


def _ts_function_returns_value(func: Any, family: str) -> bool:
    if family == "java":
        rtype = func.child_by_field_name("type")
        return rtype is not None and rtype.type != "void_type"
    if family == "go":
        return func.child_by_field_name("result") is not None
    rtype = func.child_by_field_name("type")
    declarator = func.child_by_field_name("declarator")
    if rtype is None or declarator is None:
        return False  # constructors, destructors
    if declarator.type != "function_declarator":
        return True  # pointer/reference declarators: returns a pointer or reference
    fname = declarator.child_by_field_name("declarator")
    if fname is not None and fname.text == b"main":
        return False  # main returns 0 when it falls off its end
    text = rtype.text.decode("utf-8", "replace")
    return text not in ("void", "auto", "decltype(auto)")


def tree_sitter_missing_returns(text: str, language: str | None) -> list[FunctionSpan] | None:
    family = syntax.family(language)
    kinds = _FUNCTION_TYPES.get(family or "")
    if not kinds:
        return None
    tree = syntax.parse(text, family)
    if tree is None:
        return None
    found = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.named_children)
        if node.type not in kinds or family is None:
            continue
        body = node.child_by_field_name("body")
        if body is None or not _ts_function_returns_value(node, family):
            continue
        if _ts_completes(body):
            name_node = node.child_by_field_name("name") or node.child_by_field_name("declarator")
            raw = name_node.text if name_node is not None else None
            name = raw.decode("utf-8", "replace").split("(")[0] if raw else "?"
            found.append(FunctionSpan(name, node.start_point[0], _last_row(node)))
    found.sort(key=lambda f: f.start_line)
    return found


def missing_returns(text: str, language: str | None) -> list[FunctionSpan] | None:
    """Functions that can fall off their end while declared to return a value; None: cannot tell."""
    if syntax.family(language) == "python":
        return python_missing_returns(text)
    return tree_sitter_missing_returns(text, language)


def enclosing_function(text: str, language: str | None, line: int) -> tuple[int, int] | None:
    """(first, last) line of the innermost function around `line`, or None."""
    family = syntax.family(language)
    tree = syntax.parse(text, family)
    if tree is None:
        return None
    kinds = _FUNCTION_TYPES.get(family or "", set()) | {
        "function_definition",
        "decorated_definition",
        "method_declaration",
        "constructor_declaration",
        "function_declaration",
        "function_item",
        "method_definition",
        "arrow_function",
    }
    best: tuple[int, int] | None = None
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.start_point[0] > line or _last_row(node) < line:
            continue
        if node.type in kinds:
            best = (node.start_point[0], _last_row(node))
        stack.extend(node.named_children)
    return best


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
