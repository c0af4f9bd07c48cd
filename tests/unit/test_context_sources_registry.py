"""The source plug-ins as a whole: one protocol, one registry, names from one `Literal`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import get_args

import pytest

from qwen_ls.context.sources import ContextSource, Query, build_query, default_sources
from qwen_ls.context.types import SOURCES, SourceName
from tests.unit.context_sources_helpers import make_workspace, query_at

FILES = {
    "shop/util.py": "def compute_total(items):\n    return sum(items)\n",
    "shop/cart.py": "def cart_total(items):\n    return compute_total(items)\n",
}


def test_every_registered_source_answers_a_query(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, FILES)
    ws.recent[(tmp_path / "shop/cart.py").as_posix()] = [(0, 0.0)]
    q = query_at(ws, tmp_path, "shop/main.py", "from shop import util\n\nutil.compute_total(items)\nutil.‸")
    sources = default_sources(ws)
    assert len(sources) == 8 and len({type(s) for s in sources}) == 8
    labels: set[str] = set()
    for source in sources:
        got = source.candidates(q)
        labels.update(c.source for c in got)
        assert all(c.source in SOURCES for c in got)
    # this query exercises an import outline, a definition, similar chunks and a recent edit
    assert labels == {"import", "definition", "similar", "recent"}


def test_source_names_come_from_one_literal() -> None:
    assert SOURCES == get_args(SourceName) == ("open", "recent", "import", "definition", "similar")


def test_a_new_source_is_an_object_with_candidates(tmp_path: Path) -> None:
    """The protocol is structural: what the recipe in `sources/__init__.py` promises."""
    from qwen_ls.context.sources import Candidate

    class Fixed:
        def candidates(self, query: Query) -> list[Candidate]:
            return [Candidate(query.path, 0, 0, ["x"], "similar", 1.0, "fixed")]

    source: ContextSource = Fixed()
    ws = make_workspace(tmp_path, FILES)
    q = build_query(ws, (tmp_path / "a.py").as_posix(), "x", ["x"], 0, 1)
    assert [c.reason for c in source.candidates(q)] == ["fixed"]


def test_the_query_is_worked_out_once_and_is_frozen(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, FILES)
    q = query_at(ws, tmp_path, "shop/main.py", "from shop.util import compute_total\n\ncompute_total(‸")
    assert q.typed == "compute_total("
    assert list(q.imports.files) == [(tmp_path / "shop/util.py").as_posix()]
    assert dict(q.imports.bound) == {"compute_total": [(tmp_path / "shop/util.py").as_posix()]}
    assert q.near["compute_total"] == 1.0 and "compute_total" in q.terms
    assert {hit[0] for hit in q.hits} == {(tmp_path / f).as_posix() for f in FILES}
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.line = 3  # type: ignore[misc]


def test_a_plugged_in_source_reaches_the_prompt(tmp_path: Path) -> None:
    """The recipe end to end: a source is one object; the engine ranks and packs what it proposes."""
    from qwen_ls.context import ContextEngine, ContextSettings
    from qwen_ls.context.sources import Candidate, Workspace
    from qwen_ls.context.tokens import approximate_tokens

    (tmp_path / "notes.py").write_text("PLAN = 'ship on friday'\n", encoding="utf-8")

    class Pinned:
        def __init__(self, ws: Workspace) -> None:
            self.ws = ws

        def candidates(self, query: Query) -> list[Candidate]:
            path = (tmp_path / "notes.py").as_posix()
            lines = self.ws.file_lines(path) or []
            return [Candidate(path, 0, 0, lines[:1], "recent", 0.99, "pinned by the user")]

    engine = ContextEngine(
        ContextSettings(), approximate_tokens, lambda ws: (*default_sources(ws), Pinned(ws))
    )
    engine.set_roots([tmp_path])
    engine.build_index()
    text = "def main():\n    "
    result = engine.retrieve(tmp_path / "main.py", text, len(text), 256)
    assert [(s.path, s.text, s.source, s.reason) for s in result.snippets] == [
        ("notes.py", "PLAN = 'ship on friday'", "recent", "pinned by the user")
    ]
