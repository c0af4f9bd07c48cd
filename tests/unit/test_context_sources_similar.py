"""Source `similar` (and `open`): chunks most like the code before the cursor (BM25)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from qwen_ls.context.sources.similar import WEIGHTS, SimilarSource, SimilarWeights, trim_comment_lines
from tests.unit.context_sources_helpers import make_workspace, open_doc, query_at, rel

CODE = "def convert(celsius_reading, kelvin_offset):\n    return celsius_reading * kelvin_offset\n"
FILES = {
    "a.py": CODE,
    "b.py": "def unrelated():\n    return 1\n",
    "c.py": "# Licence: do what you like\n\n" + CODE.replace("convert", "convert_again"),
}
HERE = "def run(celsius_reading, kelvin_offset):\n    total = celsius_reading + kelvin_offset\n    ‸"


def test_the_most_similar_chunks_best_first(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, FILES)
    q = query_at(ws, tmp_path, "main.py", HERE)
    got = SimilarSource(ws).candidates(q)
    assert {rel(tmp_path, c.path) for c in got} == {"a.py", "c.py"}  # b.py shares no identifier
    assert all(c.source == "similar" for c in got)
    best = max(got, key=lambda c: c.score)
    assert best.score == pytest.approx(WEIGHTS.similar_prior + WEIGHTS.closeness)
    assert best.reason == "similar to the code before the cursor (1.00 of the best)"
    licensed = next(c for c in got if rel(tmp_path, c.path) == "c.py")
    assert not any("Licence" in line for line in licensed.lines)  # the banner is trimmed


def test_open_documents_are_labelled_open_and_switch_apart(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, FILES)
    open_doc(ws, tmp_path, "a.py", CODE, "python")
    q = query_at(ws, tmp_path, "main.py", HERE)
    got = {rel(tmp_path, c.path): c for c in SimilarSource(ws).candidates(q)}
    assert got["a.py"].source == "open" and got["c.py"].source == "similar"
    assert got["a.py"].score == pytest.approx(
        WEIGHTS.open_prior + WEIGHTS.closeness * q.hits[0][3] / q.hits[0][3]
    )
    ws_no_open = make_workspace(tmp_path, FILES, open_documents=False)
    open_doc(ws_no_open, tmp_path, "a.py", CODE, "python")
    assert [c.source for c in SimilarSource(ws_no_open).candidates(q)] == ["similar"]
    ws_no_similar = make_workspace(tmp_path, FILES, similar=False)
    open_doc(ws_no_similar, tmp_path, "a.py", CODE, "python")
    assert [c.source for c in SimilarSource(ws_no_similar).candidates(q)] == ["open"]


def test_at_most_three_chunks_of_a_file_each_worth_less(tmp_path: Path) -> None:
    big = "".join(f"def f{i}(celsius_reading, kelvin_offset):\n    return {i}\n\n" for i in range(40))
    ws = make_workspace(tmp_path, {"big.py": big}, chunk_lines=4)
    got = SimilarSource(ws).candidates(query_at(ws, tmp_path, "main.py", HERE))
    assert len(got) == WEIGHTS.per_file
    ratios = [b.score / a.score for a, b in itertools.pairwise(got)]
    assert all(r <= WEIGHTS.same_file + 1e-9 for r in ratios)
    got = SimilarSource(ws, SimilarWeights(per_file=1)).candidates(query_at(ws, tmp_path, "main.py", HERE))
    assert len(got) == 1


def test_trim_comment_lines() -> None:
    lines = ["# banner", "", "x = 1", "y = 2", "# trailing", ""]
    assert trim_comment_lines(lines, 0, 5, "python") == (2, 3)
    start, end = trim_comment_lines(["// only", "// comments"], 0, 1, "javascript")
    assert end < start  # nothing left
