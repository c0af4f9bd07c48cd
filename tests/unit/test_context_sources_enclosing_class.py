"""Source `enclosing_class`: the class of the C++ method being written out of line."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_ls.context.sources.enclosing_class import OWNER_WEIGHT, EnclosingClassSource
from tests.unit.context_sources_helpers import make_workspace, query_at, rel

HEADER = "class Engine {\n public:\n  void start();\n  int rpm_;\n};\n"
SOURCE = '#include "engine.h"\n\nvoid Engine::start() {\n  rpm_ = ‸'


def test_the_owner_of_an_out_of_line_method(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, {"engine.h": HEADER})
    got = EnclosingClassSource(ws).candidates(query_at(ws, tmp_path, "engine.cpp", SOURCE))
    assert [(rel(tmp_path, c.path), c.source) for c in got] == [("engine.h", "definition")]
    assert got[0].score == pytest.approx(OWNER_WEIGHT)
    assert got[0].reason == "defines `Engine`; the cursor is in a method of `Engine`"
    assert got[0].lines[0] == "class Engine {"


def test_only_c_and_cpp_and_only_with_definitions_on(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, {"engine.h": HEADER})
    py = "class X:\n    def Engine::start(self):\n        ‸"  # not C++: the pattern is not even tried
    assert EnclosingClassSource(ws).candidates(query_at(ws, tmp_path, "engine.py", py)) == []
    outside = '#include "engine.h"\n\nint main() {\n  ‸'
    assert EnclosingClassSource(ws).candidates(query_at(ws, tmp_path, "main.cpp", outside)) == []
    ws = make_workspace(tmp_path, {"engine.h": HEADER}, definitions=False)
    assert EnclosingClassSource(ws).candidates(query_at(ws, tmp_path, "engine.cpp", SOURCE)) == []


def test_the_weight_is_the_sources_own(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, {"engine.h": HEADER})
    got = EnclosingClassSource(ws, weight=0.3).candidates(query_at(ws, tmp_path, "engine.cpp", SOURCE))
    assert got[0].score == pytest.approx(0.3)
