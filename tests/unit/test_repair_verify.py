"""Verification: a candidate is offered only when the server can check it fixes and breaks nothing."""

from __future__ import annotations

from qwen_ls.repair.data import Diagnostic, Region
from qwen_ls.repair.pipeline import stale_reason
from qwen_ls.repair.region import region_for
from qwen_ls.repair.verify import check_fix, verify_candidate

PY = (
    "def total(xs):\n    count = 0\n    for x in xs\n        count += x\n    return count\n"
    "\nprint(total([1]))\n"
)
COLON = Diagnostic(2, 4, 2, 15, "expected ':'", "syntax-error", "Python", 1)


def _region(text: str, diag: Diagnostic, language: str = "python") -> Region:
    return region_for(text, diag, language, context_lines=1, max_region_lines=20)


def _replace(text: str, region: Region, old: str, new: str) -> str:
    return region.text(text).replace(old, new)


def test_a_correct_fix_is_accepted_with_the_checks_listed() -> None:
    region = _region(PY, COLON)
    fixed = _replace(PY, region, "for x in xs\n", "for x in xs:\n")
    verdict = verify_candidate(PY, region, fixed, "python", [COLON])
    assert verdict.accepted, verdict.reason
    assert verdict.reason.startswith("verified:")
    assert any(c.startswith("compile: ok") for c in verdict.checks)


def test_unchanged_and_deleted_regions_are_rejected() -> None:
    region = _region(PY, COLON)
    verdict = verify_candidate(PY, region, region.text(PY), "python", [COLON])
    assert not verdict.accepted and "unchanged" in verdict.reason
    verdict = verify_candidate(PY, region, "    pass\n", "python", [COLON])
    assert not verdict.accepted and "deletes most" in verdict.reason


def test_a_fix_that_does_not_fix_the_syntax_error_is_rejected() -> None:
    region = _region(PY, COLON)
    still_broken = _replace(PY, region, "count += x", "count = count + x")
    verdict = verify_candidate(PY, region, still_broken, "python", [COLON])
    assert not verdict.accepted
    assert "syntax" in verdict.reason or "compile" in verdict.reason


def test_a_fix_that_breaks_compilation_is_rejected() -> None:
    good = PY.replace("for x in xs\n", "for x in xs:\n")
    diag = Diagnostic(3, 8, 3, 18, "Line too long", "E501", "ruff", 2)
    region = _region(good, diag)
    broken = _replace(good, region, "count += x", "count += (x")
    verdict = verify_candidate(good, region, broken, "python", [diag])
    assert not verdict.accepted
    assert "syntax" in verdict.reason or "compile" in verdict.reason


def test_python_names_new_undefined_and_still_undefined() -> None:
    text = "def f(items):\n    n = len(itms)\n    return n\n"
    diag = Diagnostic(1, 12, 1, 16, "undefined name 'itms'", "F821", "pyflakes", 1)
    region = _region(text, diag)
    ok = verify_candidate(text, region, _replace(text, region, "itms", "items"), "python", [diag])
    assert ok.accepted, ok.reason
    wrong = verify_candidate(text, region, _replace(text, region, "itms", "itemz"), "python", [diag])
    assert not wrong.accepted and "`itemz`" in wrong.reason
    still = verify_candidate(text, region, _replace(text, region, "n = ", "m = n = "), "python", [diag])
    assert not still.accepted and "`itms` is still undefined" in still.reason


def test_missing_return_must_be_fixed() -> None:
    text = "def f(x) -> int:\n    y = x + 1\n\ndef g():\n    pass\n"
    diag = Diagnostic(0, 0, 0, 16, "Missing return statement", "return", "mypy", 1)
    region = _region(text, diag)
    fixed = region.text(text).replace("    y = x + 1\n", "    y = x + 1\n    return y\n")
    assert verify_candidate(text, region, fixed, "python", [diag]).accepted
    not_fixed = region.text(text).replace("y = x + 1", "y = x + 2")
    verdict = verify_candidate(text, region, not_fixed, "python", [diag])
    assert not verdict.accepted and "can still reach its end" in verdict.reason


def test_brace_language_syntax_and_typos() -> None:
    java = "class A {\n  int f(int count) {\n    int y = count + 1\n    return y;\n  }\n}\n"
    diag = Diagnostic(2, 4, 2, 21, "';' expected", None, "javac", 1)
    region = _region(java, diag, "java")
    fixed = region.text(java).replace("count + 1\n", "count + 1;\n")
    verdict = verify_candidate(java, region, fixed, "java", [diag])
    assert verdict.accepted, verdict.reason
    typo = region.text(java).replace("count + 1\n", "conut + 1;\n")
    verdict = verify_candidate(java, region, typo, "java", [diag])
    assert not verdict.accepted and "`conut` looks like a misspelling of `count`" in verdict.reason
    worse = region.text(java).replace("return y;", "return (y;")
    assert not verify_candidate(java, region, worse, "java", [diag]).accepted


def test_undefined_name_in_brace_language_must_be_gone() -> None:
    cpp = "int main() {\n  int count = 0;\n  conut++;\n  return count;\n}\n"
    diag = Diagnostic(2, 2, 2, 7, "use of undeclared identifier 'conut'", None, "clang", 1)
    region = _region(cpp, diag, "cpp")
    assert check_fix(cpp, region, region.text(cpp).replace("conut", "count"), "cpp", [diag]).accepted
    verdict = check_fix(cpp, region, region.text(cpp).replace("conut++", "conut += 1"), "cpp", [diag])
    assert not verdict.accepted and "still uses `conut`" in verdict.reason
    # Declaring the name (or putting a misspelled declaration right) is a fix too.
    declared = region.text(cpp).replace("  conut++;", "  int conut = 0;\n  conut++;")
    assert check_fix(cpp, region, declared, "cpp", [diag]).accepted


def test_language_without_grammar_is_checked_only_structurally() -> None:
    text = "class A {\n  fun f() { x = 1 }\n}\n"
    diag = Diagnostic(1, 0, 1, 10, "expecting ';'", "E1", "kotlin", 1)
    region = _region(text, diag, "kotlin")
    verdict = verify_candidate(text, region, region.text(text).replace("x = 1", "x = 1;"), "kotlin", [diag])
    assert verdict.accepted
    assert any("no grammar" in c for c in verdict.checks)


def test_csharp_fixes_are_parsed() -> None:
    text = "class A {\n  void F() { x = 1 }\n}\n"
    diag = Diagnostic(1, 0, 1, 10, "; expected", "CS1002", "csharp", 1)
    region = _region(text, diag, "csharp")
    good = verify_candidate(text, region, region.text(text).replace("x = 1", "x = 1;"), "csharp", [diag])
    assert good.accepted and not any("no grammar" in c for c in good.checks)
    worse = region.text(text).replace("x = 1 }", "x = 1; ) (")
    assert not verify_candidate(text, region, worse, "csharp", [diag]).accepted
    name = Diagnostic(
        1, 13, 1, 14, "The name 'x' does not exist in the current context", "CS0103", "csharp", 1
    )
    assert verify_candidate(
        text, region, region.text(text).replace("x = 1", "int x = 1;"), "csharp", [name]
    ).accepted


def test_version_guard() -> None:
    assert stale_reason(3, 3) is None
    reason = stale_reason(3, 5)
    assert reason is not None and "version 3, now 5" in reason
    from qwen_ls.repair.pipeline import fingerprint

    assert stale_reason(None, None, fingerprint("a"), "a") is None
    assert stale_reason(None, None, fingerprint("a"), "b") is not None


def test_an_undefined_name_the_file_uses_elsewhere_is_judged_as_a_follow_on_error() -> None:
    # g++ says "'total' was not declared" on the line after a broken declaration: the name is fine,
    # the syntax error is what must go.
    cpp = "int main() {\n  int total = (1;\n  total++;\n  return total;\n}\n"
    diag = Diagnostic(1, 2, 1, 17, "'total' was not declared in this scope", None, "g++", 1)
    region = _region(cpp, diag, "cpp")
    fixed = region.text(cpp).replace("(1;", "(1);")
    assert check_fix(cpp, region, fixed, "cpp", [diag]).accepted
    # a change that leaves the broken line alone fixes nothing
    verdict = check_fix(cpp, region, region.text(cpp).replace("total++", "total += 1"), "cpp", [diag])
    assert not verdict.accepted
    verdict = check_fix(cpp, region, region.text(cpp).replace("(1;", "(1 + 1;"), "cpp", [diag])
    assert not verdict.accepted and "syntax" in verdict.reason


def test_a_fix_that_repeats_the_surrounding_code_is_rejected() -> None:
    text = "def f(x):\n    a = 1\n    b = 2\n    c = 3\n    if x\n        return a\n    return b\n"
    diag = Diagnostic(4, 4, 4, 8, "expected ':'", None, "Python", 1)
    region = _region(text, diag)
    assert (region.start_line, region.end_line) == (3, 5)
    echoed = "def f(x):\n    a = 1\n    b = 2\n    c = 3\n    if x:\n        return a\n"
    verdict = verify_candidate(text, region, echoed, "python", [diag])
    assert not verdict.accepted and "repeats code" in verdict.reason
    assert verify_candidate(
        text, region, "    c = 3\n    if x:\n        return a\n", "python", [diag]
    ).accepted


def test_a_restored_label_is_not_a_use_of_the_name() -> None:
    cpp = "int main() {\n  int i = 0;\nR\n  i++;\n  if (i < 3) goto R;\n  return 0;\n}\n"
    diag = Diagnostic(2, 0, 2, 1, "'R' was not declared in this scope", None, "g++", 1)
    region = _region(cpp, diag, "cpp")
    assert check_fix(cpp, region, region.text(cpp).replace("R\n", "R:\n", 1), "cpp", [diag]).accepted


def test_without_re_detection_the_fix_must_touch_the_reported_lines() -> None:
    text = "def f(x):\n    a = 1\n    b = 2\n    c = 3\n    d = 4\n    e = 5\n    return a\n"
    diag = Diagnostic(1, 4, 1, 9, "Variable name 'a' is too short", "C0103", "pylint", 3)
    region = _region(text, diag)
    elsewhere = region.text(text).replace("e = 5", "e = 6")
    verdict = verify_candidate(text, region, elsewhere, "python", [diag])
    assert not verdict.accepted and "changes nothing near line 2" in verdict.reason
    renamed = region.text(text).replace("a = 1", "alpha = 1").replace("return a", "return alpha")
    assert verify_candidate(text, region, renamed, "python", [diag]).accepted


def test_an_undefined_name_from_a_broken_scope_is_judged_by_the_syntax_error() -> None:
    # A doubled `}` closes main early: g++ then says "'ans' was not declared" well below it.
    cpp = (
        "int main() {\n  int ans = 0;\n  for (int i = 0; i < 3; i++) {\n    ans += i;\n  }}\n"
        "  int x = 1;\n  int y = 2;\n  int z = 3;\n  int w = 4;\n  ans += x;\n  return ans;\n}\n"
    )
    diag = Diagnostic(9, 2, 9, 5, "'ans' was not declared in this scope", None, "g++", 1)
    region = _region(cpp, diag, "cpp")
    verdict = check_fix(cpp, region, region.text(cpp), "cpp", [diag])
    assert not verdict.accepted and "not fixed" in verdict.reason
    # a region that reaches the stray brace can fix it
    start, end = cpp.index("  }}\n"), cpp.index("  return ans;")
    wide = Region(4, 9, start, end, (diag,))
    verdict = check_fix(cpp, wide, cpp[start:end].replace("  }}\n", "  }\n"), "cpp", [diag])
    assert verdict.accepted, verdict.reason
