"""tree-sitter truncation."""

from __future__ import annotations

from qwen_ls.postprocess.syntax_trim import DocSyntax, syntax_cut, syntax_extend


def test_keeps_the_longest_cut_that_parses() -> None:
    doc = DocSyntax("def f(x):\n    ", "\n\nprint(f(1))\n", "python")
    raw = "y = x + 1\n    return y\n    z = (x +"
    k = syntax_cut(raw, doc)
    assert k is not None and raw[:k] == "y = x + 1\n    return y"


def test_whole_completion_kept_when_it_parses() -> None:
    doc = DocSyntax("def f(x):\n    ", "\n", "python")
    assert syntax_cut("y = x + 1\n    return y", doc) is None


def test_no_grammar_no_cut() -> None:
    doc = DocSyntax("x = ", "\n", "cobol")
    assert not doc.available
    assert syntax_cut("1\n(((", doc) is None


def test_extend_with_closing_lines_the_suffix_lacks() -> None:
    prefix = "function f(xs) {\n  xs.forEach((x) => {\n    g(x, "
    doc = DocSyntax(prefix, "\n\nexport const z = 1;\n", "javascript")
    raw = "1)\n  })\n}\n\nfunction h() {"
    end = raw.index("\n")
    k = syntax_extend(raw, end, doc, indent=4)
    assert k is not None and raw[:k] == "1)\n  })\n}"


def test_no_extension_when_the_document_already_parses() -> None:
    doc = DocSyntax("function f() {\n  g(", "\n}\n", "javascript")
    assert syntax_extend("1);\n  h();\n", 3, doc, indent=2) is None


def test_incremental_error_counts_match_a_full_parse() -> None:
    from qwen_ls import syntax

    prefix, suffix = "def f(x):\n    ", "\n\nprint(1)\n"
    doc = DocSyntax(prefix, suffix, "python")
    for middle in ["return x", "return (x", "if x:\n        pass", "é = 'ü'"]:
        assert doc.errors(middle) == syntax.count_errors(prefix + middle + suffix, "python")
