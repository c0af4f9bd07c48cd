"""`qwen-ls bench postprocess --units`: decorated declarations in real code, cut back after a run-on."""

from __future__ import annotations

from pathlib import Path

from qwen_ls.bench.postprocess_units import unit_cases, unit_recovery

JAVA = """class Shop {
    @Override
    @Deprecated
    public String toString()
            throws IllegalStateException {
        return "shop";
    }

    @Test void inline() { run(); }
}
"""

PYTHON = """import functools


@functools.cache
def f(x):
    return x


class A:
    @property
    def size(self):
        return 1
"""


def test_cases_run_from_the_first_decoration_to_the_opening_of_the_body() -> None:
    cases = list(unit_cases(JAVA, "java"))
    assert len(cases) == 1  # the one-line method has its body right of the cursor: another check
    cursor, end = cases[0]
    assert JAVA.encode()[cursor:end].decode() == (
        "Override\n    @Deprecated\n    public String toString()\n            throws IllegalStateException {"
    )
    truths = [PYTHON.encode()[c:e].decode() for c, e in unit_cases(PYTHON, "python")]
    assert truths == ["functools.cache\ndef f(x):", "property\n    def size(self):"]


def test_recovery_over_a_source_tree(tmp_path: Path) -> None:
    (tmp_path / "Shop.java").write_text(JAVA)
    (tmp_path / "a.py").write_text(PYTHON)
    (tmp_path / "notes.txt").write_text("@not code\n")
    result = unit_recovery([tmp_path])
    assert set(result) == {"java", "python"}
    assert (result["java"]["recovered"], result["java"]["total"]) == (1, 1)
    assert (result["python"]["recovered"], result["python"]["total"]) == (2, 2)
