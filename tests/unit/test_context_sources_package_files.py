"""Source `package_files`: outlines of the package's other files, the most similar first."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_ls.context.sources.package_files import WEIGHTS, PackageFilesSource, PackageFilesWeights
from tests.unit.context_sources_helpers import make_workspace, query_at, rel

FILES = {
    "app/Alpha.java": "package app;\n\nclass Alpha {\n    void ping() {}\n}\n",
    "app/Beta.java": "package app;\n\nclass Beta {\n    void frobnicate(Widget widget) {}\n}\n",
    "app/Gamma.java": "package app;\n\nclass Gamma {\n    void pong() {}\n}\n",
    "lib/Delta.java": "package lib;\n\nclass Delta {\n    void frobnicate(Widget widget) {}\n}\n",
}
HERE = "package app;\n\nclass Main {\n    void run(Widget widget) {\n        frobnicate(widget);\n        ‸"


def test_the_package_files_with_the_best_hit_first(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, FILES)
    got = PackageFilesSource(ws).candidates(query_at(ws, tmp_path, "app/Main.java", HERE))
    # Beta shares the code's identifiers; the others follow by name; lib/ is another package
    assert [rel(tmp_path, c.path) for c in got] == ["app/Beta.java", "app/Alpha.java", "app/Gamma.java"]
    assert [c.score for c in got] == pytest.approx([WEIGHTS.first - WEIGHTS.step * n for n in range(3)])
    assert all(c.source == "import" and not c.contiguous for c in got)
    assert got[0].reason == "in this package (visible without an import) (outline)"


def test_switched_off_and_own_weights(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, FILES, imports=False)
    assert PackageFilesSource(ws).candidates(query_at(ws, tmp_path, "app/Main.java", HERE)) == []
    ws = make_workspace(tmp_path, FILES)
    got = PackageFilesSource(ws, PackageFilesWeights(first=0.5, files=1)).candidates(
        query_at(ws, tmp_path, "app/Main.java", HERE)
    )
    assert [(rel(tmp_path, c.path), c.score) for c in got] == [("app/Beta.java", 0.5)]
