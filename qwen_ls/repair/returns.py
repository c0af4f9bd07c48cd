"""Missing returns: functions declared to return a value whose body can fall off its end (Python with
ast; Java, C, C++ and Go with tree-sitter).

Split out of `qwen_ls.repair.checks`, which re-exports these names.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from qwen_ls import syntax


def _last_row(node: Any) -> int:
    """The last line a node really occupies (a node ending at column 0 ends on the line before)."""
    row: int = node.end_point[0]
    if node.end_point[1] == 0 and row > node.start_point[0]:
        row -= 1
    return row


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
