"""The server's own detectors used to verify repairs."""

from __future__ import annotations

import pytest

from qwen_ls.repair import checks
from qwen_ls.repair.data import Diagnostic


def _d(message: str, code: str | None = None) -> Diagnostic:
    return Diagnostic(0, 0, 0, 1, message, code)


@pytest.mark.parametrize(
    ("message", "code", "kind", "name"),
    [
        ("undefined name 'conut'", "F821", checks.UNDEFINED_NAME, "conut"),
        ('"conut" is not defined', "reportUndefinedVariable", checks.UNDEFINED_NAME, "conut"),
        ('Name "conut" is not defined', "name-defined", checks.UNDEFINED_NAME, "conut"),
        ("Undefined variable 'conut'", "E0602", checks.UNDEFINED_NAME, "conut"),
        ("use of undeclared identifier 'conut'", None, checks.UNDEFINED_NAME, "conut"),
        ("'conut' was not declared in this scope", None, checks.UNDEFINED_NAME, "conut"),
        (
            "cannot find symbol\n  symbol:   variable conut\n  location: class A",
            None,
            checks.UNDEFINED_NAME,
            "conut",
        ),
        ("Cannot find name 'conut'.", "2304", checks.UNDEFINED_NAME, "conut"),
        ("undefined: conut", None, checks.UNDEFINED_NAME, "conut"),
        ("cannot find value `conut` in this scope", "E0425", checks.UNDEFINED_NAME, "conut"),
        ("Missing return statement", "return", checks.MISSING_RETURN, None),
        ("missing return statement", None, checks.MISSING_RETURN, None),
        ("non-void function does not return a value", None, checks.MISSING_RETURN, None),
        ("control reaches end of non-void function", None, checks.MISSING_RETURN, None),
        (
            "no return statement in function returning non-void [-Werror=return-type]",
            None,
            checks.MISSING_RETURN,
            None,
        ),
        (
            "‘conut’ was not declared in this scope; did you mean ‘count’?",
            None,
            checks.UNDEFINED_NAME,
            "conut",
        ),
        ("expected ':'", None, checks.SYNTAX, None),
        ("'(' was never closed", None, checks.SYNTAX, None),
        ("unindent does not match any outer indentation level", None, checks.SYNTAX, None),
        ("extraneous closing brace ('}')", None, checks.SYNTAX, None),
        ("';' expected", None, checks.SYNTAX, None),
        ("SyntaxError: invalid syntax", "E999", checks.SYNTAX, None),
        ("expected ';' before '}' token", None, checks.SYNTAX, None),
        ("a function-definition is not allowed here before '{' token", None, checks.SYNTAX, None),
        ("expected '}' at end of input", None, checks.SYNTAX, None),
        ("'else' without a previous 'if'", None, checks.SYNTAX, None),
        ("package Systen does not exist", None, checks.UNDEFINED_NAME, "Systen"),
        ("The name 'conut' does not exist in the current context", "CS0103", checks.UNDEFINED_NAME, "conut"),
        ('Argument 1 to "f" has incompatible type "str"; expected "int"', "arg-type", checks.OTHER, None),
        ("Line too long (120 > 88)", "E501", checks.OTHER, None),
    ],
)
def test_classify_understands_many_tools(message: str, code: str | None, kind: str, name: str | None) -> None:
    got = checks.classify(_d(message, code))
    assert (got.kind, got.name) == (kind, name)


def test_python_undefined_names_scopes() -> None:
    src = (
        "import os\n"
        "X = 1\n"
        "def f(a):\n"
        "    global Y\n"
        "    Y = 2\n"
        "    c = [i for i in range(a)]\n"
        "    return conut + c + os.sep + X + Y + __name__\n"
        "class K:\n"
        "    z = 1\n"
        "    w = z\n"
        "    def m(self):\n"
        "        return self.z + K + missing\n"
    )
    uses = checks.python_undefined_names(src)
    assert uses is not None
    assert [(u.name, u.line) for u in uses] == [("conut", 6), ("missing", 11)]
    assert checks.python_undefined_names("from m import *\nprint(anything)\n") is None
    assert checks.python_undefined_names("def f(:\n") is None


def test_python_missing_returns() -> None:
    src = (
        "def a(x) -> int:\n    if x:\n        return 1\n"
        "def b(x) -> int:\n    if x:\n        return 1\n    else:\n        raise ValueError\n"
        "def c(x):\n    for i in x:\n        return i\n"
        "def d():\n    while True:\n        pass\n"
        "def e():\n    yield 1\n"
        "def f() -> int:\n    ...\n"
        "def g() -> None:\n    print(1)\n"
        "def h(x) -> int:\n    try:\n        return int(x)\n    except ValueError:\n        return 0\n"
    )
    found = checks.python_missing_returns(src)
    assert found is not None
    assert [f.name for f in found] == ["a", "c"]


@pytest.mark.parametrize(
    ("language", "src", "names"),
    [
        (
            "cpp",
            "int f(int x) {\n if (x) return 1;\n}\nint g() { return 1; }\nint main() {}\nvoid v() {}\n",
            ["f"],
        ),
        ("cpp", "int f() { while (1) { } }\nint g() { for (;;) { break; } }\n", ["g"]),
        ("c", "int f(int x) { if (x) { return 1; } else { return 2; } }\nint g(int x) { x++; }\n", ["g"]),
        (
            "java",
            "class A { int f(int x) { if (x > 0) { return 1; } else return 2; } int g() { int y = 1; } "
            "void h() {} int k() { throw new RuntimeException(); } }",
            ["g"],
        ),
        (
            "java",
            "class A { int f(int x) { switch (x) { case 0: return 1; default: return 2; } } "
            "int g(int x) { switch (x) { case 0: return 1; } } "
            "int h(int x) { switch (x) { case 1 -> { return 1; } default -> throw new E(); } } "
            "int k(int x) { switch (x) { case 0: break; default: return 2; } } }",
            ["g", "k"],
        ),
        ("cpp", "int f(int x) { switch (x) { case 0: return 1; default: return 2; } }\n", []),
        ("go", "package m\nfunc f(x int) int {\n if x > 0 {\n  return 1\n }\n}\nfunc g() {}\n", ["f"]),
    ],
)
def test_tree_sitter_missing_returns(language: str, src: str, names: list[str]) -> None:
    found = checks.missing_returns(src, language)
    assert found is not None
    assert sorted(f.name for f in found) == sorted(names)


def test_syntax_problems_combines_tree_sitter_and_compile() -> None:
    problems = checks.syntax_problems("def f(x)\n    return x\n", "python")
    assert problems
    assert any("SyntaxError" in p.message for p in problems)
    assert checks.syntax_problems("def f(x):\n    return x\n", "python") == []
    assert checks.syntax_problems("anything", "kotlin") is None


def test_likely_typos_needs_a_near_name_and_a_single_use() -> None:
    old = "int count = 0;\nint main() {\n  count++;\n  return 0;\n}\n"
    new = "int count = 0;\nint main() {\n  conut++;\n  return 0;\n}\n"
    assert checks.likely_typos(old, new, "cpp", (1, 4), (1, 4)) == [("conut", "count")]
    declared = "int count = 0;\nint main() {\n  int total = 1;\n  total++;\n  return 0;\n}\n"
    assert checks.likely_typos(old, declared, "cpp", (1, 4), (1, 5)) == []
    library = "int count = 0;\nint main() {\n  count = cont(1);\n  return 0;\n}\n"
    assert checks.likely_typos(old, library, "cpp", (1, 4), (1, 4)) == []  # calls may be library functions
    assert checks.edit_distance("count", "conut") == 1
    assert checks.edit_distance("count", "xyz") == 3
