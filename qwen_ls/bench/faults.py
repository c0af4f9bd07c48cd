"""Seeded fault injectors for the repair benchmark: each makes one realistic mistake in correct code
and returns the diagnostic a tool would report for it.

Kinds: missing colon, unbalanced bracket, misspelled name, bad indentation, missing return. An
injector that finds no place for its fault in a sample returns a `Skip` with the reason (the benchmark
counts them). Sites are found with tree-sitter (or `ast` for Python), so strings and comments are
never touched. Python syntax faults carry CPython's own error as the diagnostic; the others carry
the message pyflakes, mypy, javac or clang would give, at the place they would give it.
"""

from __future__ import annotations

import ast
import keyword
import random
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qwen_ls import syntax
from qwen_ls.repair import checks
from qwen_ls.repair.data import Diagnostic
from qwen_ls.repair.text import leading_ws, line_offsets, position_at, split_lines, strip_eol

KINDS = ("missing_colon", "unbalanced_bracket", "misspelled_name", "bad_indentation", "missing_return")


@dataclass(frozen=True)
class Fault:
    kind: str
    text: str
    diagnostic: Diagnostic
    #: The edit that made the fault: original[start:end] became `replacement`.
    start: int
    end: int
    replacement: str
    description: str


@dataclass(frozen=True)
class Skip:
    kind: str
    reason: str


def _leaves(node: Any) -> list[Any]:
    out = []
    stack = [node]
    while stack:
        n = stack.pop()
        if n.child_count == 0:
            out.append(n)
        else:
            stack.extend(reversed(n.children))
    return out


def _line_diag(text: str, offset: int, message: str, source: str, code: str | None = None) -> Diagnostic:
    offsets = line_offsets(text)
    line, _ = position_at(offsets, offset)
    content = strip_eol(split_lines(text)[line])
    indent = len(content) - len(content.lstrip())
    return Diagnostic(line, indent, line, len(content), message, code, source, 1)


def _python_diag(text: str) -> Diagnostic | None:
    """CPython's own diagnostic for a broken Python text; None when it still compiles."""
    err = checks.python_compile_error(text)
    if err is None:
        return None
    lines = split_lines(text)
    line = min(err.start_line, len(lines) - 1)
    content = strip_eol(lines[line])
    indent = len(content) - len(content.lstrip())
    return Diagnostic(
        line, indent, line, len(content), err.message.split(": ", 1)[-1], "syntax-error", "Python", 1
    )


def _inside(within: tuple[int, int] | None, start: int, end: int | None = None) -> bool:
    return within is None or (within[0] <= start and (end if end is not None else start) <= within[1])


def _char_offset(data: bytes, byte: int) -> int:
    return len(data[:byte].decode("utf-8", "replace"))


def _parse_python(text: str) -> ast.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarnings about escapes in the samples are not ours
        return ast.parse(text)


def _apply(text: str, start: int, end: int, replacement: str) -> str:
    return text[:start] + replacement + text[end:]


def _finish(
    kind: str,
    original: str,
    language: str,
    start: int,
    end: int,
    replacement: str,
    message: str,
    source: str,
    code: str | None,
    description: str,
    at: int | None = None,
) -> Fault | Skip:
    text = _apply(original, start, end, replacement)
    if language == "python" and kind in ("missing_colon", "unbalanced_bracket", "bad_indentation"):
        diag = _python_diag(text)
        if diag is None:
            return Skip(kind, "the injected change is still valid Python")
    else:
        diag = _line_diag(text, start if at is None else at, message, source, code)
    return Fault(kind, text, diag, start, end, replacement, description)


# --------------------------------------------------------------------------- missing colon

_PY_HEADERS = {
    "if_statement",
    "elif_clause",
    "else_clause",
    "for_statement",
    "while_statement",
    "function_definition",
    "class_definition",
    "try_statement",
    "except_clause",
    "finally_clause",
    "with_statement",
}
_C_COLON_PARENTS = {
    "switch_label",
    "case_statement",
    "ternary_expression",
    "conditional_expression",
    "enhanced_for_statement",
    "for_range_loop",
    "labeled_statement",
    "field_initializer_list",
    "access_specifier",
    "field_declaration_list",
    "base_class_clause",
    "assert_statement",
}


def _pick_leaf(
    kind: str,
    text: str,
    language: str,
    rng: random.Random,
    within: tuple[int, int] | None,
    keep: Callable[[Any], bool],
    none_reason: str,
) -> tuple[Any, int] | Skip:
    """One syntax-tree leaf that `keep` accepts, inside `within`, chosen at random; with its character
    offset. A Skip when there is no grammar or no such leaf."""
    tree = syntax.parse(text, language)
    if tree is None:
        return Skip(kind, f"no grammar for {language}")
    data = text.encode("utf-8")
    sites = [n for n in _leaves(tree.root_node) if keep(n)]
    sites = [n for n in sites if (within is None or _inside(within, _char_offset(data, n.start_byte)))]
    if not sites:
        return Skip(kind, none_reason)
    node = rng.choice(sites)
    return node, len(data[: node.start_byte].decode("utf-8"))


def missing_colon(
    text: str, language: str, rng: random.Random, within: tuple[int, int] | None = None
) -> Fault | Skip:
    parents = _PY_HEADERS if language == "python" else _C_COLON_PARENTS
    picked = _pick_leaf(
        "missing_colon",
        text,
        language,
        rng,
        within,
        lambda n: n.type == ":" and n.parent.type in parents,
        "no colon in a statement header, label, case or conditional",
    )
    if isinstance(picked, Skip):
        return picked
    node, start = picked
    return _finish(
        "missing_colon",
        text,
        language,
        start,
        start + 1,
        "",
        "expected ':'",
        "javac" if language == "java" else "clang",
        None,
        f"removed the ':' of a {node.parent.type}",
    )


# --------------------------------------------------------------------------- unbalanced bracket

_PAIRS = {")": "(", "]": "[", "}": "{"}


def unbalanced_bracket(
    text: str, language: str, rng: random.Random, within: tuple[int, int] | None = None
) -> Fault | Skip:
    picked = _pick_leaf(
        "unbalanced_bracket",
        text,
        language,
        rng,
        within,
        lambda n: n.type in _PAIRS and not n.is_missing,
        "no closing bracket",
    )
    if isinstance(picked, Skip):
        return picked
    node, start = picked
    closing = node.type
    if rng.random() < 0.5:
        return _finish(
            "unbalanced_bracket",
            text,
            language,
            start,
            start + 1,
            "",
            f"expected '{closing}'",
            "javac" if language == "java" else "clang",
            None,
            f"removed a '{closing}'",
        )
    return _finish(
        "unbalanced_bracket",
        text,
        language,
        start,
        start + 1,
        closing + closing,
        f"unmatched '{closing}'" if language == "python" else f"extraneous closing '{closing}'",
        "javac" if language == "java" else "clang",
        None,
        f"doubled a '{closing}'",
    )


# --------------------------------------------------------------------------- misspelled name

_KEYBOARD_NEIGHBOURS = {
    "a": "qs",
    "b": "vn",
    "c": "xv",
    "d": "sf",
    "e": "wr",
    "f": "dg",
    "g": "fh",
    "h": "gj",
    "i": "uo",
    "j": "hk",
    "k": "jl",
    "l": "k",
    "m": "n",
    "n": "bm",
    "o": "ip",
    "p": "o",
    "q": "w",
    "r": "et",
    "s": "ad",
    "t": "ry",
    "u": "yi",
    "v": "cb",
    "w": "qe",
    "x": "zc",
    "y": "tu",
    "z": "x",
}
_IDENT = re.compile(r"^[A-Za-z_]\w*$")
_WORDS = re.compile(r"[A-Za-z_]\w*")


def misspell(name: str, rng: random.Random, taken: set[str]) -> str | None:
    """A typo of `name` (swap, drop, double or neighbour key) that is a fresh identifier."""
    options = []
    for i in range(len(name) - 1):
        if name[i] != name[i + 1]:
            options.append(name[:i] + name[i + 1] + name[i] + name[i + 2 :])
    if len(name) > 2:
        options.extend(name[:i] + name[i + 1 :] for i in range(1, len(name)))
    options.extend(name[: i + 1] + name[i] + name[i + 1 :] for i in range(len(name)) if name[i].isalpha())
    for i, ch in enumerate(name):
        for repl in _KEYBOARD_NEIGHBOURS.get(ch.lower(), ""):
            options.append(name[:i] + (repl.upper() if ch.isupper() else repl) + name[i + 1 :])
    rng.shuffle(options)
    for option in options:
        if _IDENT.match(option) and option not in taken and not keyword.iskeyword(option) and option != name:
            return option
    return None


def _python_bound_uses(text: str) -> list[tuple[str, int, int]]:
    """(name, line, col) of every load of a name the module binds itself (not builtins or imports)."""
    try:
        tree = _parse_python(text)
    except SyntaxError:
        return []
    bound: set[str] = set()
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imported.update((a.asname or a.name).split(".")[0] for a in node.names)
    return [
        (node.id, node.lineno - 1, node.col_offset)
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in bound - imported
    ]


def misspelled_name(
    text: str, language: str, rng: random.Random, within: tuple[int, int] | None = None
) -> Fault | Skip:
    taken = set(_WORDS.findall(text))
    offsets = line_offsets(text)
    if language == "python":
        lines_ = split_lines(text)
        uses = [
            u
            for u in _python_bound_uses(text)
            if _inside(within, offsets[u[1]] + _char_offset(lines_[u[1]].encode("utf-8"), u[2]))
        ]
        if not uses:
            return Skip("misspelled_name", "no use of a name the file defines")
        name, line, col = rng.choice(sorted(uses))
        # ast columns are UTF-8 byte offsets within the line
        line_text = split_lines(text)[line]
        col = len(line_text.encode("utf-8")[:col].decode("utf-8"))
        start = offsets[line] + col
        typo = misspell(name, rng, taken | checks._BUILTINS)
        if typo is None:
            return Skip("misspelled_name", "no fresh misspelling")
        return _finish(
            "misspelled_name",
            text,
            language,
            start,
            start + len(name),
            typo,
            f"undefined name '{typo}'",
            "pyflakes",
            "F821",
            f"{name} -> {typo}",
        )
    tree = syntax.parse(text, language)
    if tree is None:
        return Skip("misspelled_name", f"no grammar for {language}")
    data = text.encode("utf-8")
    seen: dict[bytes, int] = {}
    sites = []
    for leaf in sorted(_leaves(tree.root_node), key=lambda n: n.start_byte):
        if leaf.type != "identifier" or leaf.text is None:
            continue
        seen[leaf.text] = seen.get(leaf.text, 0) + 1
        if seen[leaf.text] > 1 and (within is None or _inside(within, _char_offset(data, leaf.start_byte))):
            sites.append(leaf)  # a later occurrence of a name seen before: a use, not its declaration
    if not sites:
        return Skip("misspelled_name", "no identifier used twice")
    node = rng.choice(sites)
    name = node.text.decode("utf-8")
    typo = misspell(name, rng, taken)
    if typo is None:
        return Skip("misspelled_name", "no fresh misspelling")
    start = len(data[: node.start_byte].decode("utf-8"))
    if language == "java":
        message, source = f"cannot find symbol\n  symbol:   variable {typo}", "javac"
    else:
        message, source = f"use of undeclared identifier '{typo}'", "clang"
    return _finish(
        "misspelled_name",
        text,
        language,
        start,
        start + len(name),
        typo,
        message,
        source,
        None,
        f"{name} -> {typo}",
    )


# --------------------------------------------------------------------------- bad indentation


def bad_indentation(
    text: str, language: str, rng: random.Random, within: tuple[int, int] | None = None
) -> Fault | Skip:
    if language != "python":
        return Skip("bad_indentation", f"indentation is not syntax in {language}")
    tree = syntax.parse(text, language)
    if tree is None:
        return Skip("bad_indentation", "no grammar")
    lines = split_lines(text)
    offsets = line_offsets(text)
    # lines where a statement starts, first on its line: never inside brackets or strings
    starts: set[int] = set()
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.named_children)
        if node.type in ("block", "module") or not node.is_named:
            continue
        if node.parent is not None and node.parent.type in ("block", "module"):
            row, col = node.start_point
            if len(leading_ws(lines[row])) == col:
                starts.add(row)
    starts.discard(0)
    candidates = sorted(r for r in starts if _inside(within, offsets[r]))
    if not candidates:
        return Skip("bad_indentation", "no statement line")
    levels = {len(line) - len(line.lstrip(" \t")) for line in lines if line.strip()}
    row = rng.choice(candidates)
    line = lines[row]
    indent = len(line) - len(line.lstrip(" \t"))
    prev = next((strip_eol(lines[r]).rstrip() for r in range(row - 1, -1, -1) if lines[r].strip()), "")
    odd = [n for n in range(1, indent) if n not in levels]
    if odd and rng.random() < 0.5:
        new_indent = rng.choice(odd)  # "unindent does not match any outer indentation level"
    elif not prev.endswith(":"):
        new_indent = indent + rng.choice((1, 2, 4))  # "unexpected indent"
    elif odd:
        new_indent = rng.choice(odd)
    else:
        return Skip("bad_indentation", "no invalid indentation for the chosen line")
    start = offsets[row]
    return _finish(
        "bad_indentation",
        text,
        language,
        start,
        start + indent,
        " " * new_indent,
        "unexpected indent",
        "Python",
        None,
        f"line {row + 1}: indent {indent} -> {new_indent}",
    )


# --------------------------------------------------------------------------- missing return


def missing_return(
    text: str, language: str, rng: random.Random, within: tuple[int, int] | None = None
) -> Fault | Skip:
    if language == "python":
        return _missing_return_python(text, rng, within)
    return _missing_return_ts(text, language, rng, within)


def _missing_return_python(text: str, rng: random.Random, within: tuple[int, int] | None) -> Fault | Skip:
    offsets = line_offsets(text)
    lines = split_lines(text)
    try:
        module = _parse_python(text)
    except SyntaxError:
        return Skip("missing_return", "does not parse")
    funcs = []
    for node in ast.walk(module):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        last = node.body[-1]
        if not isinstance(last, ast.Return) or last.value is None:
            continue
        if isinstance(last.value, ast.Constant) and last.value.value is None:
            continue
        rest = node.body[:-1]
        if not rest or checks._is_stub(rest):
            continue
        if _inside(within, offsets[last.lineno - 1]):
            funcs.append((node, last))
    if not funcs:
        return Skip("missing_return", "no function ending in `return <value>`")
    func, ret = rng.choice(funcs)
    first, last_line = ret.lineno - 1, (ret.end_lineno or ret.lineno) - 1
    start = offsets[first]
    end = offsets[last_line + 1] if last_line + 1 < len(offsets) else len(text)
    candidate = _apply(text, start, end, "")
    probe = _parse_python(candidate)
    probe_funcs = [
        n
        for n in ast.walk(probe)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.lineno == func.lineno
    ]
    if not probe_funcs or not checks._declares_value(probe_funcs[0]):
        return Skip("missing_return", "nothing declares that the function returns a value")
    def_line = func.lineno - 1
    return Fault(
        "missing_return",
        candidate,
        Diagnostic(
            def_line,
            0,
            def_line,
            len(strip_eol(lines[def_line])),
            "Missing return statement",
            "return",
            "mypy",
            1,
        ),
        start,
        end,
        "",
        f"removed the final return of {func.name}",
    )


def _missing_return_ts(
    text: str, language: str, rng: random.Random, within: tuple[int, int] | None
) -> Fault | Skip:
    offsets = line_offsets(text)
    tree = syntax.parse(text, language)
    if tree is None:
        return Skip("missing_return", f"no grammar for {language}")
    family = syntax.family(language) or language
    kinds = checks._FUNCTION_TYPES.get(family, set())
    data_ = text.encode("utf-8")
    sites = []
    stack = [tree.root_node]
    while stack:
        ts_node = stack.pop()
        stack.extend(ts_node.named_children)
        if ts_node.type not in kinds:
            continue
        body = ts_node.child_by_field_name("body")
        if body is None or not checks._ts_function_returns_value(ts_node, family):
            continue
        stmts = checks._ts_named(body)
        if family == "go" and stmts and stmts[-1].type == "statement_list":
            stmts = checks._ts_named(stmts[-1])
        if (
            len(stmts) >= 2
            and stmts[-1].type == "return_statement"
            and (within is None or _inside(within, _char_offset(data_, stmts[-1].start_byte)))
        ):
            sites.append((ts_node, stmts[-1]))
    if not sites:
        return Skip("missing_return", "no non-void function ending in a return statement")
    ts_func, ts_ret = rng.choice(sorted(sites, key=lambda s: s[0].start_byte))
    data = text.encode("utf-8")
    start = len(data[: ts_ret.start_byte].decode("utf-8"))
    end = len(data[: ts_ret.end_byte].decode("utf-8"))
    line_start = offsets[position_at(offsets, start)[0]]
    e_line = position_at(offsets, end)[0]
    line_end = offsets[e_line + 1] if e_line + 1 < len(offsets) else len(text)
    if not text[line_start:start].strip() and not text[end:line_end].strip():
        start, end = line_start, line_end  # the return had its own line(s): remove them
    candidate = _apply(text, start, end, "")
    close = len(data[: ts_func.end_byte].decode("utf-8")) - (end - start) - 1
    if family == "java":
        message, source = "missing return statement", "javac"
    else:
        message, source = "non-void function does not return a value", "clang"
    return Fault(
        "missing_return",
        candidate,
        _line_diag(candidate, close, message, source, None),
        start,
        end,
        "",
        "removed the final return",
    )


INJECTORS = {
    "missing_colon": missing_colon,
    "unbalanced_bracket": unbalanced_bracket,
    "misspelled_name": misspelled_name,
    "bad_indentation": bad_indentation,
    "missing_return": missing_return,
}


def inject(
    kind: str, text: str, language: str, rng: random.Random, within: tuple[int, int] | None = None
) -> Fault | Skip:
    """Inject one fault of `kind`; with `within` (character offsets), only at a site inside that span."""
    return INJECTORS[kind](text, language, rng, within)
