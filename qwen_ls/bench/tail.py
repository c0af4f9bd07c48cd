"""The tail of `qwen-ls bench latency`: what the user waits at a pause, and what context changes cost.

Everything here is computed from what any qwen-ls server reports (`qwen.stats` with its recent
per-request metrics), so a baseline server without the held context is measured the same way:

- `wait_p50_ms` / `wait_p95_ms`: from the last keystroke before a pause to the answer, every pause
  counted (typed-ahead answers too; one never answered while the user waited counts as that wait);
- `empty_deadline_pauses`: pauses answered with nothing because the request hit its deadline;
- `context_changes`: re-ranks that gave the prompt a different context (the context engine's own
  counters: requests minus those whose context part stayed identical);
- `keystroke_context_changes` / `keystroke_context_reeval_tokens`: context changes that typing requests
  paid for on the keystroke path, and the tokens they evaluated for them (`context_reeval`);
- `idle_context_tokens`: tokens evaluated in idle time to bring a changed context into the cache (the
  held-context server's `contextHold` counters; 0 where a server has none).
"""

from __future__ import annotations

from typing import Any


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def empty_deadline(metrics: dict[str, Any], answered_with_text: bool) -> bool:
    """A pause answered with nothing because its request ran out of time."""
    if answered_with_text:
        return False
    return metrics.get("stop_reason") == "deadline" or "deadline" in str(metrics.get("outcome", ""))


def context_reeval(recent: list[dict[str, Any]]) -> tuple[int, int]:
    """(context changes paid on the keystroke path, the tokens typing requests evaluated for them).

    A typing request starts one when its cache match ends inside the context block, before the end of
    what the previous request left in the cache: its context differs from the cached one. Requests that
    go on with that unfinished prefill (their match ends where the cache ends, still inside the context)
    add their tokens to it. The explicit request on arriving somewhere, and what goes on from its
    prefill, count as arriving, not as a change.
    """
    changes = tokens = 0
    cache_end = None  # how far the previous request that evaluated something filled the cache
    ctx = 0  # the document's context tokens (a superseded request's metrics leave them out)
    paying = False
    for m in recent:
        evaluated, reused = int(m.get("evaluated", 0)), int(m.get("reused", 0))
        ctx = int(m.get("context_tokens") or 0) or ctx
        if not evaluated:
            continue
        if reused >= ctx:
            paying = False
        elif cache_end is not None and reused < cache_end:  # a new divergence inside the context
            paying = not m.get("invoked")
            changes += int(paying)
        if paying:
            tokens += evaluated
        cache_end = reused + int(m.get("shifted", 0)) + evaluated
    return changes, tokens


def tail_report(
    waits: list[float],
    metrics: list[dict[str, Any]],
    with_text: list[bool],
    stats: dict[str, Any],
    unanswered: int = 0,
    gave_up_s: float = 15.0,
) -> dict[str, Any]:
    """The tail section of the report (`waits` in seconds, one entry per answered pause). Pauses never
    answered while the user waited (`gave_up_s`) count as that long: the percentiles hide no pause."""
    every = waits + [gave_up_s] * unanswered
    p50, p95 = percentile(every, 50) * 1000, percentile(every, 95) * 1000
    ctx = stats.get("context") or {}
    before_ctx = (stats.get("before") or {}).get("context") or {}
    hold = stats.get("contextHold") or {}
    hold0 = (stats.get("before") or {}).get("contextHold") or {}

    def delta(d: dict[str, Any], d0: dict[str, Any], key: str) -> int:
        return int(d.get(key, 0)) - int(d0.get(key, 0))

    changes = delta(ctx, before_ctx, "requests") - delta(ctx, before_ctx, "identical")
    n_key, key_tokens = context_reeval(stats.get("recent") or [])
    idle_changes = delta(hold, hold0, "changesIdle")
    idle_tokens = delta(hold, hold0, "tokensIdle")
    return {
        "wait_p50_ms": round(p50, 1),
        "wait_p95_ms": round(p95, 1),
        "wait_p95_over_p50": round(p95 / p50, 2) if p50 > 0 else None,
        "empty_pauses": sum(1 for t in with_text if not t),
        "empty_deadline_pauses": sum(
            1 for m, t in zip(metrics, with_text, strict=True) if empty_deadline(m, t)
        ),
        "context_changes": changes,
        "context_changes_idle": idle_changes,
        "context_refreshes_abandoned": delta(hold, hold0, "abandoned"),
        "keystroke_context_changes": n_key,
        "keystroke_context_reeval_tokens": key_tokens,
        "idle_context_tokens": idle_tokens,
        "idle_context_tokens_per_change": round(idle_tokens / idle_changes, 1) if idle_changes else None,
        "kv_restore_ms": delta(hold, hold0, "restoreMs"),
    }
