"""Ranking and packing (`context/packing.py`) and the stability rule (`context/stability.py`), apart
from any source."""

from __future__ import annotations

from qwen_ls.context.packing import Packer, uncovered_run
from qwen_ls.context.settings import ContextSettings
from qwen_ls.context.sources import Candidate
from qwen_ls.context.stability import Selection, can_keep, near_terms, stable_order
from qwen_ls.context.tokens import approximate_tokens
from qwen_ls.context.types import Snippet


def _packer(**settings: object) -> Packer:
    return Packer(
        ContextSettings(**settings),  # type: ignore[arg-type]
        approximate_tokens,
        lambda rel, text: 1 + approximate_tokens(f"{rel}\n{text}\n"),
        lambda path: path.rsplit("/", 1)[-1],
    )


def _cand(path: str, start: int, n: int, score: float, contiguous: bool = True, word: str = "x") -> Candidate:
    lines = [f"{word}{i} = {i}" for i in range(start, start + n)]
    return Candidate(path, start, start + n - 1, lines, "similar", score, "why", contiguous)


def test_best_first_into_the_budget_best_last_in_the_prompt() -> None:
    got = _packer().pack(
        [
            _cand("/a.py", 0, 5, 0.2, word="a"),
            _cand("/b.py", 0, 5, 0.9, word="b"),
            _cand("/c.py", 0, 5, 0.5, word="c"),
        ],
        1000,
        {},
    )
    assert [c.path for c, _ in got] == ["/a.py", "/c.py", "/b.py"]
    assert all(
        tokens == 1 + approximate_tokens(c.path[1:] + "\n" + "\n".join(c.lines) + "\n") for c, tokens in got
    )


def test_overlaps_keep_only_their_uncovered_lines_and_long_snippets_are_cut() -> None:
    got = _packer().pack([_cand("/a.py", 0, 10, 0.9), _cand("/a.py", 5, 10, 0.5)], 1000, {})
    assert [(c.start, c.end) for c, _ in got] == [(10, 14), (0, 9)]
    cut = _packer().pack([_cand("/a.py", 0, 200, 0.9)], 100, {})
    ((c, tokens),) = cut
    assert tokens <= 100 and c.end < 199 and c.reason == "why (cut to fit)"


def test_an_outline_too_long_is_focused_on_the_terms_it_is_given() -> None:
    rows = [f"def name_{i}(arg):" for i in range(60)]
    outline = Candidate("/m.py", 0, 59, rows, "import", 0.9, "imported", False)
    focused = {}
    for term in ("name_7", "name_42"):
        ((c, _),) = _packer().pack([outline], 60, {term: 1.0})
        assert c.reason.endswith("(focused on the cursor's identifiers)")
        focused[term] = c.lines
    # the rows kept follow the query terms passed in, nothing remembered from an earlier call
    assert "def name_7(arg):" in focused["name_7"] and "def name_7(arg):" not in focused["name_42"]
    assert "def name_42(arg):" in focused["name_42"]


def test_limits() -> None:
    many = [_cand(f"/{i}.py", 0, 3, 1.0 - i / 100, word=f"v{i}_") for i in range(20)]
    assert len(_packer(max_snippets=4).pack(many, 10_000, {})) == 4
    assert _packer().pack(many, 10, {}) == []  # below minSnippetTokens nothing is worth its header
    same = [_cand("/a.py", 0, 3, 0.9), _cand("/b.py", 0, 3, 0.8)]  # the same text twice: once
    assert len(_packer().pack(same, 1000, {})) == 1


def test_uncovered_run() -> None:
    assert uncovered_run(0, 9, []) == (0, 9)
    assert uncovered_run(0, 9, [(3, 4)]) == (5, 9)
    assert uncovered_run(0, 9, [(0, 8)]) is None  # one line left is not worth it
    assert uncovered_run(0, 9, [(2, 3), (7, 9)]) == (4, 6)


def _snip(path: str, tokens: int = 10) -> Snippet:
    return Snippet(path, 1, 2, f"text of {path}", "similar", 0.5, tokens)


def test_stability_rule() -> None:
    terms = frozenset({"a", "b", "c", "d", "e"})
    last = Selection(10, terms, 100, (_snip("x.py"),))
    assert can_keep(last, 12, terms, 100, True, {})
    assert not can_keep(last, 19, terms, 100, True, {})  # moved too far
    assert not can_keep(last, 10, frozenset({"a", "z"}), 100, True, {})  # other code around
    assert not can_keep(last, 10, terms, 200, True, {})  # the budget grew a lot
    assert not can_keep(last, 10, terms, 5, True, {})  # no longer fits
    assert not can_keep(Selection(10, terms, 100, (), ready=False), 10, terms, 100, True, {})
    typed = near_terms(["x = alpha", "y = beta + gam"], 1, "y = beta + gam")
    assert typed == frozenset({"alpha", "beta"})  # `gam` is being typed


def test_stable_order_keeps_survivors_first() -> None:
    a, b, c = _snip("a.py"), _snip("b.py"), _snip("c.py")
    last = Selection(0, frozenset(), 100, (b, a))
    assert stable_order(last, (a, c, b)) == (b, a, c)
    assert stable_order(None, (a, c, b)) == (a, c, b)
