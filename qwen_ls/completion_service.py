"""Serving completions as the user types: latest-wins, debounce, prefill-ahead, typed-ahead reuse.

Per keystroke the previous request is superseded (answered empty at once, its work aborted within one
token). The new request first prefills its prompt (useful work: the next request shares it), then waits
out an adaptive debounce, and only then generates. So a typing burst costs prefill only, and a pause
costs just the generation on a warm cache. Results the user is typing along are answered from memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qwen_ls.completion import CompletionPipeline, Outcome, PipelineSettings, Snapshot
from qwen_ls.config import Settings
from qwen_ls.engine.base import CancelToken, Engine
from qwen_ls.scheduler import PRIORITY_COMPLETION, EngineLane, Job
from qwen_ls.stats import RequestMetrics, Stats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shown:
    """A completion the user has on screen: where it was made and what it says."""

    uri: str
    #: the document text before the cursor when it was made
    prefix: str
    #: the text after the cursor when it was made
    suffix: str
    text: str
    replace_end: int


class TypedAhead:
    """Answers a request whose prefix extends a shown completion's prefix by text the completion starts with.

    Also a small LRU keyed by (uri, prefix tail, suffix head) for going back and forth.
    """

    def __init__(self, size: int = 64, look_back: int = 256) -> None:
        self._lru: OrderedDict[tuple[str, str, str], Shown] = OrderedDict()
        self._size = size
        self._look_back = look_back

    def _key(self, uri: str, prefix: str, suffix: str) -> tuple[str, str, str]:
        return (uri, prefix[-self._look_back :], suffix[:64])

    def remember(self, shown: Shown) -> None:
        key = self._key(shown.uri, shown.prefix, shown.suffix)
        self._lru[key] = shown
        self._lru.move_to_end(key)
        while len(self._lru) > self._size:
            self._lru.popitem(last=False)

    def lookup(self, uri: str, prefix: str, suffix: str) -> tuple[str, int] | None:
        hit = self._lru.get(self._key(uri, prefix, suffix))
        if hit is not None and hit.prefix.endswith(prefix[-self._look_back :]):
            return hit.text, hit.replace_end
        # typed-ahead: the newest shown completions whose text the user has been typing
        for shown in reversed(self._lru.values()):
            if shown.uri != uri or len(prefix) <= len(shown.prefix):
                continue
            typed = prefix[len(shown.prefix) :]
            if len(typed) > len(shown.text) or not prefix.startswith(shown.prefix):
                continue
            if shown.text.startswith(typed) and len(typed) < len(shown.text) and suffix == shown.suffix:
                return shown.text[len(typed) :], shown.replace_end
        return None

    def forget(self, uri: str) -> None:
        for key in [k for k in self._lru if k[0] == uri]:
            del self._lru[key]


class Debounce:
    """Adaptive debounce: a little longer than the user's usual gap between keystrokes."""

    def __init__(self, fixed_ms: int = -1) -> None:
        self.fixed_ms = fixed_ms
        self._gaps: deque[float] = deque(maxlen=24)
        self._last: float | None = None

    def keystroke(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self._last is not None:
            gap = now - self._last
            if gap < 1.0:  # a pause is not a typing gap
                self._gaps.append(gap)
        self._last = now

    def delay(self) -> float:
        if self.fixed_ms >= 0:
            return self.fixed_ms / 1000
        if len(self._gaps) < 4:
            return 0.12
        gaps = sorted(self._gaps)
        p75 = gaps[int(len(gaps) * 0.75)]
        return min(0.35, max(0.04, p75 * 1.25))


class CompletionService:
    def __init__(self, lane: EngineLane, stats: Stats) -> None:
        self.lane = lane
        self.stats = stats
        self.pipeline: CompletionPipeline | None = None
        self.settings = Settings()
        self.context: Any = None
        self.cache = TypedAhead()
        self.debounce = Debounce()
        self._current: list[Job[Any]] = []
        self._seq = 0

    def configure(self, settings: Settings, engine: Engine | None, context: Any) -> None:
        self.settings = settings
        self.context = context
        self.debounce.fixed_ms = settings.completion.debounce_ms
        c = settings.completion
        ps = PipelineSettings(
            prompt=c.prompt(), mode=c.mode, max_tokens=c.max_tokens, deadline_ms=c.deadline_ms
        )
        if engine is None:
            self.pipeline = None
        elif self.pipeline is None or self.pipeline.engine is not engine:
            self.pipeline = CompletionPipeline(engine, ps, context)
        else:
            self.pipeline.settings = ps
            self.pipeline.context = context

    def on_change(self, uri: str) -> None:
        """A keystroke: the answer to any pending request is stale now."""
        self.debounce.keystroke()
        self._supersede("superseded")

    def forget(self, uri: str) -> None:
        self.cache.forget(uri)
        if self.pipeline is not None:
            self.pipeline.forget(uri)

    def _supersede(self, reason: str) -> None:
        for job in self._current:
            job.abort(reason)
        self._current = []

    async def complete(
        self,
        snap: Snapshot,
        on_partial: Callable[[str], None] | None = None,
    ) -> Outcome:
        """One request, answered even when superseded (then with an empty outcome)."""
        t0 = time.perf_counter()
        self._seq += 1
        seq = self._seq
        self._supersede("superseded")
        metrics = RequestMetrics(uri=snap.uri)
        try:
            out = await self._complete(snap, seq, on_partial)
        except asyncio.CancelledError:
            self._supersede("cancelled")
            metrics.outcome = "cancelled"
            metrics.total_ms = (time.perf_counter() - t0) * 1000
            self.stats.record(metrics)
            raise
        if seq != self._seq and out.outcome not in ("cache", "typed-ahead"):
            out = Outcome(outcome="superseded")
        out.t_total = time.perf_counter() - t0
        metrics.outcome = out.outcome
        metrics.total_ms = out.t_total * 1000
        metrics.prompt_tokens = out.prompt_tokens
        metrics.context_tokens = out.context_tokens
        prefill, gen = out.extra.get("prefill"), out.generation
        parts = [g for g in (prefill, gen) if g is not None]
        if parts:
            # the first call saw the cache as the previous request left it
            metrics.reused = parts[0].n_reused
            metrics.shifted = sum(g.n_shifted for g in parts)
            metrics.evaluated = sum(g.n_evaluated for g in parts)
            metrics.prefill_ms = sum(g.t_prefill for g in parts) * 1000
        metrics.generation_started = bool(out.extra.get("generation_started"))
        if gen is not None:
            metrics.generated = gen.n_generated
            metrics.ttft_ms = gen.t_first_token * 1000
            metrics.generate_ms = gen.t_generate * 1000
            metrics.stop_reason = gen.stop_reason
        self.stats.record(metrics)
        log.debug("%s", metrics.line())
        if out.text:
            self.cache.remember(
                Shown(snap.uri, snap.text[: snap.offset], snap.text[snap.offset :], out.text, out.replace_end)
            )
        return out

    async def _complete(self, snap: Snapshot, seq: int, on_partial: Callable[[str], None] | None) -> Outcome:
        prefix, suffix = snap.text[: snap.offset], snap.text[snap.offset :]
        if not snap.invoked:
            hit = self.cache.lookup(snap.uri, prefix, suffix)
            if hit is not None:
                return Outcome(text=hit[0], replace_end=hit[1], outcome="typed-ahead")
        pipeline = self.pipeline
        if pipeline is None:
            return Outcome(outcome="empty:no-model")
        deadline_ms = self.settings.completion.deadline_ms
        deadline = time.monotonic() + deadline_ms / 1000 if deadline_ms > 0 else None
        delay = 0.0 if snap.invoked else self.debounce.delay()
        hold_until = time.monotonic() + delay

        def work(cancel: CancelToken) -> Outcome:
            return run_with_hold(pipeline, snap, cancel, hold_until, deadline, on_partial)

        job = self.lane.submit(work, kind="completion", priority=PRIORITY_COMPLETION)
        self._current.append(job)
        result = await job.future
        if result is None or seq != self._seq:
            return Outcome(outcome="superseded" if job.cancel.reason != "cancelled" else "cancelled")
        return result


def run_with_hold(
    pipeline: CompletionPipeline,
    snap: Snapshot,
    cancel: CancelToken,
    hold_until: float,
    deadline: float | None,
    on_partial: Callable[[str], None] | None,
) -> Outcome:
    """Prefill now, generate after the debounce (on the engine thread).

    The prefill is never wasted: the next keystroke's prompt shares it up to the edit. Only when the
    user has paused for the debounce does generation start.
    """
    prefill = None
    if hold_until > time.monotonic():
        prompt, _ = pipeline.build_prompt(snap)
        from qwen_ls.engine.base import GenerationRequest

        prefill = pipeline.engine.generate(
            GenerationRequest(prompt=prompt.tokens, max_tokens=0, deadline=deadline, kind="prefill"), cancel
        )
        while not cancel.cancelled and time.monotonic() < hold_until:
            cancel_wait = min(0.01, max(0.0, hold_until - time.monotonic()))
            time.sleep(cancel_wait)
        if cancel.cancelled:
            out = Outcome(outcome="superseded")
            out.extra["prefill"] = prefill
            return out
    out = pipeline.run(snap, cancel, on_partial, deadline=deadline)
    if prefill is not None:
        out.extra["prefill"] = prefill
    out.extra["generation_started"] = True
    return out
