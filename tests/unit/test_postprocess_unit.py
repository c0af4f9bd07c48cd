"""Unit completeness from the syntax tree (`postprocess.unit`) and its place in the statement rule."""

from __future__ import annotations

from qwen_ls.postprocess import CompletionContext, postprocess
from qwen_ls.postprocess.cursor import cursor_from
from qwen_ls.postprocess.rules import ALL_ON
from qwen_ls.postprocess.statement import MAX_REFUSED, statement_end
from qwen_ls.postprocess.syntax_trim import DocSyntax
from qwen_ls.postprocess.unit import unit_open

JAVA = "class T {\n    void a() {\n    }\n\n    █\n        run();\n    }\n}\n"


def is_open(document: str, middle: str, language: str) -> bool:
    prefix, suffix = document.split("█")
    ctx = CompletionContext(prefix, suffix, language)
    return unit_open(DocSyntax(prefix, suffix, language), cursor_from(ctx), middle)


def test_a_decorating_line_leaves_the_unit_open() -> None:
    assert is_open(JAVA, "@Test", "java")
    assert is_open(JAVA, "@Test\n    @Timeout(5)", "java")
    assert not is_open(JAVA, "@Test\n    void b() {", "java")


def test_a_missing_token_at_the_cut_leaves_it_open() -> None:
    # `void b()` alone would need a `;`: the throws clause and the body are still to come
    assert is_open(JAVA, "@Test\n    void b()", "java")


def test_the_opening_of_a_body_ends_a_header() -> None:
    doc = "def f(xs):\n    t = 0\n    █\n        t += x\n    return t\n"
    assert not is_open(doc, "for x in xs:", "python")
    assert is_open(doc, "@cache", "python")


def test_an_opening_jsx_tag_is_open_until_its_angle() -> None:
    doc = "const a = (\n  <div>\n    <█\n      <b />\n    </Field>\n  </div>\n);\n"
    assert is_open(doc, "Field", "typescriptreact")
    assert is_open(doc, 'Field\n      label="x"', "typescriptreact")
    assert not is_open(doc, 'Field\n      label="x"\n    >', "typescriptreact")


def test_a_complete_statement_is_not_open() -> None:
    assert not is_open("x = █\ny = 2\n", "compute(1)", "python")
    assert not is_open("let a = █\nlet b = 2;\n", "f(1);", "javascript")


def test_without_a_grammar_nothing_is_refused() -> None:
    assert not is_open("x = █\n", "@foo", "cobol")


def end(
    document: str, raw: str, language: str, *, final: bool = True, refuse_all: bool = False
) -> str | None:
    prefix, suffix = document.split("█")
    ctx = CompletionContext(prefix, suffix, language)
    cursor = cursor_from(ctx)
    doc = DocSyntax(prefix, suffix, language)

    def check(middle: str) -> bool:
        return refuse_all or unit_open(doc, cursor, middle)

    k = statement_end(raw, cursor, final=final, unit_open=check)
    return None if k is None else raw[:k]


def test_statement_goes_on_past_refused_line_ends() -> None:
    doc = "class T {\n    [█\n        Run();\n    }\n}\n"
    raw = 'Fact]\n    [Trait("k", "v")]\n    public void Works()\n    {\n        Run();\n'
    assert end(doc, raw, "csharp") == 'Fact]\n    [Trait("k", "v")]\n    public void Works()\n    {'
    # while streaming, an attribute line alone is not an answer yet
    assert end(doc, "Fact]\n", "csharp", final=False) is None


def test_when_every_end_is_refused_the_first_is_kept() -> None:
    doc = "x = █\n"
    raw = "".join(f"f({i})\n" for i in range(MAX_REFUSED + 3))
    assert end(doc, raw, "python", refuse_all=True) == "f(0)"
    assert end(doc, "f(0)\nf(1)\n", "python", refuse_all=True, final=False) is None


def test_a_model_that_stops_inside_the_unit_keeps_all_it_wrote() -> None:
    doc = "class T {\n    [█\n        Run();\n    }\n}\n"
    raw = 'Fact]\n    [Trait("k", "v")]\n    public void Works()'
    assert end(doc, raw, "csharp") == raw


def test_the_rule_can_be_switched_off() -> None:
    prefix, suffix = JAVA.split("█")
    raw = "@Test\n    void b() {\n        run();\n    }\n"
    on = postprocess(raw, CompletionContext(prefix, suffix, "java"))
    off = postprocess(raw, CompletionContext(prefix, suffix, "java", rules=ALL_ON.without("unit_syntax")))
    assert on.text == "@Test\n    void b() {"
    assert off.text == "@Test"
