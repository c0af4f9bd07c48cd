"""Source `package_types`: types of the current package named like the code at the cursor."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_ls.context.sources.package_types import (
    WEIGHTS,
    PackageTypesSource,
    PackageTypesWeights,
    name_words,
)
from tests.unit.context_sources_helpers import make_workspace, query_at, rel

IMPL = "package net.web;\n\nclass HttpsServerImpl {\n    void start() {}\n}\n"
OTHER = "package net.web;\n\nclass ConnectionPool {\n    void drain() {}\n}\n"
HERE = "package net.web;\n\nclass Launcher {\n    void run(HttpsServer server) {\n        server.‸"


def test_a_type_of_the_package_named_like_the_code_here(tmp_path: Path) -> None:
    ws = make_workspace(
        tmp_path, {"net/web/HttpsServerImpl.java": IMPL, "net/web/ConnectionPool.java": OTHER}
    )
    q = query_at(ws, tmp_path, "net/web/Launcher.java", HERE)
    assert [rel(tmp_path, p) for p in q.peers] == [
        "net/web/ConnectionPool.java",
        "net/web/HttpsServerImpl.java",
    ]
    got = PackageTypesSource(ws).candidates(q)
    assert [(rel(tmp_path, c.path), c.source) for c in got] == [
        ("net/web/HttpsServerImpl.java", "definition")
    ]
    # two of the three words of `HttpsServerImpl` are near: `server` on the cursor's line (1.0),
    # `https` on the line above (0.8)
    assert got[0].score == pytest.approx(WEIGHTS.scale * (1.0 + 0.8) / 3)
    assert got[0].reason.endswith("in this package, named like the code here")


def test_other_packages_and_other_languages_see_nothing(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, {"net/web/HttpsServerImpl.java": IMPL})
    assert PackageTypesSource(ws).candidates(query_at(ws, tmp_path, "net/other/Launcher.java", HERE)) == []
    py = "def run(https_server):\n    https_server.‸"
    assert PackageTypesSource(ws).candidates(query_at(ws, tmp_path, "net/web/launcher.py", py)) == []


def test_switched_off_and_own_weights(tmp_path: Path) -> None:
    files = {"net/web/HttpsServerImpl.java": IMPL}
    ws = make_workspace(tmp_path, files, definitions=False)
    assert PackageTypesSource(ws).candidates(query_at(ws, tmp_path, "net/web/Launcher.java", HERE)) == []
    ws = make_workspace(tmp_path, files)
    q = query_at(ws, tmp_path, "net/web/Launcher.java", HERE)
    assert PackageTypesSource(ws, PackageTypesWeights(min_similarity=0.7)).candidates(q) == []
    got = PackageTypesSource(ws, PackageTypesWeights(scale=0.3)).candidates(q)
    assert got[0].score == pytest.approx(0.3 * 0.6)


def test_name_words() -> None:
    assert name_words("HttpsServerImpl") == ("https", "server", "impl")
    assert name_words("max_items") == ("max", "items")
    assert name_words("HTTPServer2") == ("http", "server", "2")
