"""Source `imported`: the files the current file imports, as outlines, ranked by use."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_ls.context.sources.imported import WEIGHTS, ImportedSource, ImportedWeights, without_imports
from tests.unit.context_sources_helpers import make_workspace, query_at, rel

FILES = {
    "pkg/used.py": "def used_fn():\n    pass\n",
    "pkg/fresh.py": "def fresh_fn():\n    pass\n",
    "pkg/other.py": "def other_fn():\n    pass\n",
}
TEXT = (
    "from pkg.other import other_fn\n"
    "from pkg.fresh import fresh_fn\n"
    "from pkg.used import used_fn\n"
    "\n"
    "other_fn()\n" + "\n" * 14 + "used_fn(‸"
)


def test_used_then_not_yet_used_then_the_rest(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, FILES)
    got = ImportedSource(ws).candidates(query_at(ws, tmp_path, "main.py", TEXT))
    scores = {rel(tmp_path, c.path): (c.score, c.reason) for c in got}
    assert scores == {
        # n is the import's position: each further import a little lower
        "pkg/other.py": (pytest.approx(WEIGHTS.other - WEIGHTS.step * 0), "imported (outline)"),
        "pkg/fresh.py": (
            pytest.approx(WEIGHTS.fresh - WEIGHTS.step * 1),
            "imported and not used yet (outline)",
        ),
        "pkg/used.py": (
            pytest.approx(WEIGHTS.used - WEIGHTS.step * 2),
            "imported and used near the cursor (outline)",
        ),
    }
    assert all(c.source == "import" for c in got)


def test_the_files_own_header_first(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, {"src/motor.h": "struct Motor {\n  int rpm;\n};\n"})
    got = ImportedSource(ws).candidates(query_at(ws, tmp_path, "src/motor.c", '#include "motor.h"\n‸'))
    assert [(rel(tmp_path, c.path), c.score) for c in got] == [("src/motor.h", WEIGHTS.own_header)]
    assert got[0].reason.startswith("the interface of this file")


def test_a_member_only_re_exported_brings_its_definition(tmp_path: Path) -> None:
    files = {
        "lib/index.ts": "export * from './shapes';\n",
        "lib/shapes.ts": "export function area(w: number, h: number): number {\n  return w * h;\n}\n",
    }
    ws = make_workspace(tmp_path, files)
    text = "import { area } from './lib/index';\n\nconst a = ‸"
    got = ImportedSource(ws).candidates(query_at(ws, tmp_path, "main.ts", text))
    defs = [c for c in got if c.source == "definition"]
    assert [rel(tmp_path, c.path) for c in defs] == ["lib/shapes.ts"]
    outline = next(c for c in got if c.source == "import")
    assert defs[0].score == pytest.approx(outline.score * WEIGHTS.reexported_member * 0.85)  # not imported
    assert defs[0].reason == "defines `area`; imported through index.ts"


def test_switched_off_and_own_weights(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, FILES, imports=False)
    assert ImportedSource(ws).candidates(query_at(ws, tmp_path, "main.py", TEXT)) == []
    ws = make_workspace(tmp_path, FILES)
    got = ImportedSource(ws, ImportedWeights(files=1, other=0.1)).candidates(
        query_at(ws, tmp_path, "main.py", TEXT)
    )
    assert [(rel(tmp_path, c.path), c.score) for c in got] == [("pkg/other.py", 0.1)]


def test_without_imports() -> None:
    py = "from a import b\nimport d\nx = b(c)\n"
    assert without_imports(py, "python").split() == ["x", "=", "b(c)"]
    js = "import { b } from './a';\nconst x = require('y');\nb();\n"
    assert without_imports(js, "javascript").split() == ["b();"]


def test_without_imports_blanks_multi_line_import_lists() -> None:
    py = "from a import (\n    b,\n    c,\n)\nimport d\nx = b(1)\n"
    assert without_imports(py, "python").split() == ["x", "=", "b(1)"]
    ts = "import {\n  b,\n  c,\n} from './a';\nimport d from 'd';\nb();\n"
    assert without_imports(ts, "typescript").split() == ["b();"]
    # an indented one (inside a function) too, and code after it stays
    nested = "def f():\n    from a import (\n        b,\n    )\n    return b\n"
    assert without_imports(nested, "python").split() == ["def", "f():", "return", "b"]
