"""The latency benchmark's tail figures, from per-request metrics as `qwen.stats` reports them."""

from __future__ import annotations

from typing import Any

from qwen_ls.bench.tail import context_reeval, empty_deadline, tail_report


def _m(reused: int, evaluated: int, ctx: int = 1000, invoked: bool = False, **kw: Any) -> dict[str, Any]:
    return {"reused": reused, "evaluated": evaluated, "context_tokens": ctx, "invoked": invoked, **kw}


def test_a_context_change_is_counted_with_the_prefill_it_leaves_unfinished() -> None:
    recent = [
        _m(0, 1800, invoked=True),  # arriving: all evaluated, not a change
        _m(1790, 12),  # typing: only the edit
        _m(400, 256, ctx=0),  # the context changed at token 400; superseded after one chunk
        _m(656, 1150),  # goes on with that prefill: the same change
        _m(1800, 10),  # typing again, the cache holds the whole context
        _m(1795, 8, ctx=0, outcome="superseded"),
    ]
    assert context_reeval(recent) == (1, 256 + 1150)


def test_arriving_and_going_on_from_an_interrupted_arrival_is_not_a_change() -> None:
    recent = [
        _m(30, 256, invoked=True),  # the arrival's prefill, cut short
        _m(286, 256, ctx=0),  # the next keystrokes go on with it
        _m(542, 1300),
        _m(1830, 5),
    ]
    assert context_reeval(recent) == (0, 0)


def test_tail_report_counts_empty_deadline_pauses_and_context_counters() -> None:
    metrics = [
        {"stop_reason": "deadline", "outcome": "empty:empty"},
        {"stop_reason": "length", "outcome": "empty:empty"},
        {"stop_reason": "deadline", "outcome": "shown"},
    ]
    assert [empty_deadline(m, t) for m, t in zip(metrics, [False, False, True], strict=True)] == [
        True,
        False,
        False,
    ]
    stats = {
        "context": {"requests": 12, "identical": 7},
        "contextHold": {"changesIdle": 3, "tokensIdle": 900, "abandoned": 1, "restoreMs": 20},
        "before": {"context": {"requests": 2, "identical": 1}, "contextHold": {"changesIdle": 1}},
        "recent": [],
    }
    report = tail_report([0.5, 0.6, 2.0], metrics, [False, False, True], stats)
    assert report["empty_pauses"] == 2 and report["empty_deadline_pauses"] == 1
    assert report["context_changes"] == 10 - 6
    assert report["context_changes_idle"] == 2 and report["idle_context_tokens"] == 900
    assert report["wait_p50_ms"] == 600.0 and report["wait_p95_over_p50"] is not None


def test_the_typing_client_maps_positions_back_to_offsets() -> None:
    """The latency bench accepts a suggestion over the item's range, as an editor does: its LSP
    positions (UTF-16 columns) must map back to the same offsets."""
    from qwen_ls.bench.latency import Doc

    doc = Doc("file:///a.py", "def f(x):\n    s = '🎉é' + x\n    return s)\n")
    for offset in range(len(doc.text) + 1):
        assert doc.offset(doc.position(offset)) == offset
    assert doc.offset({"line": 1, "character": 99}) == doc.text.index("\n    return")  # clamped to its line
