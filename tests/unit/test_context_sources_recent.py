"""Source `recent`: regions of other files edited or completed at recently, the newest first."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_ls.context.sources.recent import WEIGHTS, RecentEditsSource, RecentWeights
from tests.unit.context_sources_helpers import make_workspace, query_at, rel

FILES = {f"m{i}.py": "".join(f"x{i}_{n} = {n}\n" for n in range(40)) for i in range(3)}


def _recent(ws, root: Path, *spots: tuple[str, int]) -> None:  # type: ignore[no-untyped-def]
    """Spots noted in this order (the last is the newest)."""
    for name, line in spots:
        key = (root / name).as_posix()
        ws.recent[key] = [(line, 0.0), *ws.recent.pop(key, [])]


def test_newest_file_first_and_older_spots_worth_less(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, FILES)
    _recent(ws, tmp_path, ("m1.py", 30), ("m0.py", 5), ("m0.py", 20))
    got = RecentEditsSource(ws).candidates(query_at(ws, tmp_path, "main.py", "import m0\n‸"))
    assert [(rel(tmp_path, c.path), c.start, c.end, c.source) for c in got] == [
        ("m0.py", 12, 28, "recent"),  # the newest spot, 8 lines either side
        ("m0.py", 0, 13, "recent"),  # clipped at the file's start
        ("m1.py", 22, 38, "recent"),
    ]
    assert [c.score for c in got] == pytest.approx([0.5, 0.5 * 0.8, 0.5 * 0.8])
    assert got[0].lines[0] == "x0_12 = 12" and got[0].reason == "edited or completed here recently"


def test_the_current_file_and_excluded_files_are_left_out(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, FILES)
    _recent(ws, tmp_path, ("m1.py", 3), ("gone.py", 3), ("m2.py", 3))
    got = RecentEditsSource(ws).candidates(query_at(ws, tmp_path, "m2.py", "x = 1\n‸"))
    assert [rel(tmp_path, c.path) for c in got] == ["m1.py"]  # m2 is the current file, gone.py unindexed
    assert got[0].score == pytest.approx(0.5 * 0.8**2)  # its rank counts the files skipped


def test_switched_off(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, FILES, recent_edits=False)
    _recent(ws, tmp_path, ("m1.py", 3))
    assert RecentEditsSource(ws).candidates(query_at(ws, tmp_path, "main.py", "‸")) == []


def test_weights_are_the_sources_own(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, FILES)
    _recent(ws, tmp_path, ("m1.py", 20), ("m1.py", 5))
    weights = RecentWeights(newest=1.0, older_spot=0.5, spots=1, radius=2)
    got = RecentEditsSource(ws, weights).candidates(query_at(ws, tmp_path, "main.py", "‸"))
    assert [(c.start, c.end, c.score) for c in got] == [(3, 7, 1.0)]
    assert RecentWeights() == WEIGHTS
