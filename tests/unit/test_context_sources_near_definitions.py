"""Source `near_definitions`: definitions of the identifiers used near the cursor."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_ls.context.sources.near_definitions import (
    WEIGHTS,
    NearDefinitionsSource,
    NearDefinitionsWeights,
)
from tests.unit.context_sources_helpers import make_workspace, query_at, rel

UTIL = "def compute_total(items):\n    return sum(items)\n\n\ndef far_helper():\n    return 1\n"


def test_a_name_on_the_cursor_line_and_one_further_up(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, {"shop/util.py": UTIL})
    text = "from shop.util import compute_total, far_helper\n\nfar_helper()\n\n\n\nx = compute_total(‸"
    q = query_at(ws, tmp_path, "shop/main.py", text)
    got = NearDefinitionsSource(ws).candidates(q)
    by_name = {c.reason.split("`")[1]: c for c in got}
    assert set(by_name) == {"compute_total", "far_helper"}
    assert rel(tmp_path, by_name["compute_total"].path) == "shop/util.py"
    # imported here, so no discount; the only owner, so no spread: scale times the distance weight
    assert by_name["compute_total"].score == pytest.approx(WEIGHTS.scale * 1.0)
    assert by_name["far_helper"].score == pytest.approx(WEIGHTS.scale * q.near["far_helper"])
    assert q.near["far_helper"] == pytest.approx(1.0 / (1.0 + 4 / 4.0))
    assert by_name["compute_total"].lines[0] == "def compute_total(items):"


def test_names_defined_in_this_file_are_not_looked_up(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, {"shop/util.py": UTIL, "shop/main.py": "def compute_total():\n    pass\n"})
    text = "def compute_total():\n    pass\n\ncompute_total(‸"
    assert NearDefinitionsSource(ws).candidates(query_at(ws, tmp_path, "shop/main.py", text)) == []


def test_a_name_not_imported_is_worth_less(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, {"shop/util.py": UTIL})
    got = NearDefinitionsSource(ws).candidates(query_at(ws, tmp_path, "main.py", "compute_total(‸"))
    assert [c.score for c in got] == [pytest.approx(WEIGHTS.scale * 0.85)]


def test_switched_off_and_own_weights(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, {"shop/util.py": UTIL}, definitions=False)
    assert NearDefinitionsSource(ws).candidates(query_at(ws, tmp_path, "main.py", "compute_total(‸")) == []
    ws = make_workspace(tmp_path, {"shop/util.py": UTIL})
    text = "from shop.util import compute_total\ncompute_total(‸"
    got = NearDefinitionsSource(ws, NearDefinitionsWeights(scale=0.5)).candidates(
        query_at(ws, tmp_path, "main.py", text)
    )
    assert [c.score for c in got] == [pytest.approx(0.5)]
    assert (
        NearDefinitionsSource(ws, NearDefinitionsWeights(names=0)).candidates(
            query_at(ws, tmp_path, "main.py", text)
        )
        == []
    )
