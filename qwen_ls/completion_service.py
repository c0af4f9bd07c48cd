"""Serving completions as the user types: latest-wins, debounce, prefill-ahead, typed-ahead reuse.

Per keystroke the previous request is superseded (answered empty at once, its work aborted within one
token). The new request first prefills its prompt (useful work: the next request shares it), then waits
out an adaptive debounce, and only then generates. So a typing burst costs prefill only, and a pause
costs just the generation on a warm cache. Results the user is typing along are answered from memory.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qwen_ls import context_hold, pace
from qwen_ls.completion import CompletionPipeline, Outcome, OutcomeKind, Snapshot
from qwen_ls.config import Settings
from qwen_ls.context_hold import HeldContext, idle_batches
from qwen_ls.context_hold import refresh as refresh_context
from qwen_ls.engine.base import CancelToken, Engine, GenerationRequest, GenerationResult
from qwen_ls.scheduler import PRIORITY_COMPLETION, PRIORITY_IDLE, EngineLane, Job
from qwen_ls.stats import RequestMetrics, Stats

if TYPE_CHECKING:
    from qwen_ls.context import ContextEngine

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


class Speed:
    """Measured prefill and generation speed (tokens/s), as moving averages over recent requests."""

    def __init__(self) -> None:
        self.prefill_tps: float | None = None
        self.generate_tps: float | None = None

    @staticmethod
    def _ema(old: float | None, new: float, weight: float = 0.3) -> float:
        return new if old is None else old + weight * (new - old)

    def observe(self, result: GenerationResult | None) -> None:
        if result is None:
            return
        if result.n_evaluated >= 16 and result.t_prefill > 0:
            self.prefill_tps = self._ema(self.prefill_tps, result.n_evaluated / result.t_prefill)
        gen_time = result.t_generate - (result.t_first_token - result.t_prefill)
        if result.n_generated >= 4 and gen_time > 0:
            self.generate_tps = self._ema(self.generate_tps, (result.n_generated - 1) / gen_time)


class EarlyAnswer:
    """A request answered before its generation ended (set on the worker, read on the event loop): the
    answer, and the lane job that goes on as idle work to write the completion after it."""

    def __init__(self) -> None:
        self.job: Job[Outcome] | None = None
        self.answer: Outcome | None = None
        #: the continuation ended (set on the worker before the loop hears of it)
        self.continued = False
        #: the continuation's slot, once the event loop registered it
        self.ahead: Ahead | None = None


@dataclass(eq=False)
class Ahead:
    """Idle work computing the completion at the place accepting the shown one leads to: a continuation
    (the generation going on past an early answer) or a prefetch. Either leaves its answer in the
    typed-ahead cache; a request at that place waits for it rather than preempting it and starting over."""

    uri: str
    prefix: str
    suffix: str
    #: done when the work finished or was dropped
    done: asyncio.Future[Any]

    def at(self, uri: str, prefix: str, suffix: str) -> bool:
        return not self.done.done() and (self.uri, self.prefix, self.suffix) == (uri, prefix, suffix)


class CompletionService:
    def __init__(self, lane: EngineLane, stats: Stats) -> None:
        self.lane = lane
        self.stats = stats
        self.pipeline: CompletionPipeline | None = None
        self.settings = Settings()
        self.context: ContextEngine | None = None
        self.cache = TypedAhead()
        self.debounce = Debounce()
        self.speed = Speed()
        self._current: list[Job[Any]] = []
        self._idle: list[Job[Any]] = []
        self._seq = 0
        #: prefetch after a shown completion (the completion that follows accepting it)
        self.prefetch_enabled = True
        #: tokens generated past a complete answer, as idle work: the completion after accepting it
        self.continue_tokens = 48
        #: the continuation or prefetch in flight (the latest one)
        self._ahead: Ahead | None = None
        #: [latency] the context as the keystroke path sees it: held while typing (qwen_ls/context_hold.py)
        self.held: HeldContext | None = None

    def configure(self, settings: Settings, engine: Engine | None, context: ContextEngine | None) -> None:
        self.settings = settings
        self.context = context
        self.debounce.fixed_ms = settings.completion.debounce_ms
        c = settings.completion
        self.continue_tokens = c.prefetch_tokens
        self.prefetch_enabled = c.prefetch_tokens > 0
        # [latency] the keystroke path answers with the held context; re-ranks happen in idle time
        if context is None:
            self.held = None
        elif self.held is None or self.held.inner is not context:
            self.held = HeldContext(context)
            self.stats.sections["contextHold"] = self.held.stats
        held = self.held
        if self.pipeline is not None and self.pipeline.engine is not engine:
            self._drop_pipeline()
        if engine is None:
            self.pipeline = None
        elif self.pipeline is None:
            self.pipeline = CompletionPipeline(engine, c, held)
            self.speed = Speed()
        else:
            self.pipeline.settings = c
            self.pipeline.context = held

    def _drop_pipeline(self) -> None:
        """The engine changed (a model switch or unload): nothing may keep the old one alive. Its work
        in flight is aborted and forgotten (each job's closure holds the old pipeline)."""
        for job in self._current + self._idle:
            job.abort("model change")
        self._current, self._idle = [], []
        if self._ahead is not None:
            self._ahead_done(self._ahead)
        self.pipeline = None

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

    def _record(self, snap: Snapshot, out: Outcome, t0: float, kind: OutcomeKind | None = None) -> None:
        """Record one request's metrics; `kind` overrides the outcome's own (a request that ended early)."""
        metrics = RequestMetrics(uri=snap.uri, invoked=snap.invoked)
        metrics.outcome = kind.value if kind is not None else out.label
        metrics.total_ms = (time.perf_counter() - t0) * 1000
        metrics.prompt_tokens = out.prompt_tokens
        metrics.context_tokens = out.context_tokens
        prefill, gen = out.prefill, out.generation
        parts = [g for g in (prefill, gen) if g is not None]
        if parts:
            # the first engine call saw the cache as the previous request left it
            metrics.prompt_tokens = parts[0].n_prompt
            metrics.reused = parts[0].n_reused
            metrics.shifted = sum(g.n_shifted for g in parts)
            metrics.evaluated = sum(g.n_evaluated for g in parts)
            metrics.prefill_ms = sum(g.t_prefill for g in parts) * 1000
        metrics.generation_started = out.generation_started
        if gen is not None:
            metrics.generated = gen.n_generated
            metrics.ttft_ms = gen.t_first_token * 1000
            metrics.generate_ms = gen.t_generate * 1000
            metrics.stop_reason = gen.stop_reason
        self.stats.record(metrics)
        log.debug("%s", metrics.line())

    async def complete(self, snap: Snapshot, on_partial: Callable[[str], None] | None = None) -> Outcome:
        """One request, answered even when superseded (then with an empty outcome)."""
        t0 = time.perf_counter()
        self._seq += 1
        seq = self._seq
        self._supersede("superseded")
        prefix, suffix = snap.text[: snap.offset], snap.text[snap.offset :]
        shortcut = await self._shortcut(snap, seq, prefix, suffix, t0)
        if shortcut is not None:
            return shortcut
        pipeline = self.pipeline
        assert pipeline is not None  # (no pipeline: answered by _shortcut)
        plan, deadline, hold_until = self._plan(snap, pipeline)

        loop = self.lane.loop
        early = EarlyAnswer()

        def ready(out: Outcome) -> None:
            """On the worker: the completion is complete. Answer now; generation goes on as idle work
            (preempted by any real request) to produce what follows accepting it."""
            early.answer = out
            self.speed.observe(out.generation)
            self.speed.observe(out.prefill)
            self._record(snap, out, t0)
            job = early.job
            if job is not None:
                job.demote()
                self.lane.resolve_early(job, out)

        def work(cancel: CancelToken) -> Outcome:
            early.job = cancel.owner
            out = run_with_hold(
                pipeline,
                snap,
                cancel,
                hold_until,
                deadline,
                on_partial,
                plan.max_tokens,
                ready,
                self.continue_tokens,
                plan.generate_s,
            )
            if early.answer is not None:
                after = out.continuation
                if after is not None and not cancel.cancelled:
                    tail = after.processed
                    loop.call_soon_threadsafe(
                        self.cache.remember,
                        Shown(snap.uri, after.prefix, after.suffix, tail.text, tail.replace_end),
                    )
                early.continued = True
                loop.call_soon_threadsafe(self._continuation_done, early)
                return out
            self.speed.observe(out.generation)
            self.speed.observe(out.prefill)
            reason = cancel.reason if cancel.cancelled else None
            ended = OutcomeKind.CANCELLED if reason == "cancelled" else OutcomeKind.SUPERSEDED
            self._record(snap, out, t0, ended if reason else None)
            return out

        job = self.lane.submit(work, kind="completion", priority=PRIORITY_COMPLETION)
        self._current.append(job)
        try:
            result = await job.future
        except asyncio.CancelledError:
            job.abort("cancelled")
            if not job.started:
                self._record(snap, Outcome(), t0, OutcomeKind.CANCELLED)
            raise
        return self._finish(snap, seq, job, result, early, prefix, suffix, t0)

    async def _shortcut(
        self, snap: Snapshot, seq: int, prefix: str, suffix: str, t0: float
    ) -> Outcome | None:
        """An answer with no generation (superseded while waiting, typed ahead into a shown completion,
        or no model), or None when the request goes to the engine."""
        if not snap.invoked:
            await self._await_continuation(snap.uri, prefix, suffix)
            if seq != self._seq:
                out = Outcome(kind=OutcomeKind.SUPERSEDED)
                self._record(snap, out, t0)
                return out
            hit = self.cache.lookup(snap.uri, prefix, suffix)
            if hit is not None:
                out = Outcome(kind=OutcomeKind.TYPED_AHEAD, text=hit[0], replace_end=hit[1])
                self._record(snap, out, t0)
                self._prefetch(snap, out)
                return out
        if self.pipeline is None:
            out = Outcome.empty("no-model")
            self._record(snap, out, t0)
            return out
        return None

    def _pace(self, debounce_s: float) -> pace.Plan:
        """[latency] Generated length and deadline from the measured speed (qwen_ls/pace.py)."""
        c = self.settings.completion
        return pace.plan(
            self.speed,
            debounce_s=debounce_s,
            deadline_ms=c.deadline_ms,
            suffix_tokens=c.suffix_tokens,
            max_tokens=c.max_tokens,
        )

    def _plan(self, snap: Snapshot, pipeline: CompletionPipeline) -> tuple[pace.Plan, float | None, float]:
        """(the plan, its deadline as a time.monotonic() value, hold-until time) for one request; sets
        the pipeline's suffix cap."""
        debounce_s = 0.0 if snap.invoked else self.debounce.delay()
        plan = self._pace(debounce_s)
        deadline = time.monotonic() + plan.deadline_s if plan.deadline_s is not None else None
        pipeline.suffix_cap = plan.suffix_cap
        hold_until = time.monotonic() + debounce_s
        return plan, deadline, hold_until

    def _finish(
        self,
        snap: Snapshot,
        seq: int,
        job: Job[Outcome],
        result: Outcome | None,
        early: EarlyAnswer,
        prefix: str,
        suffix: str,
        t0: float,
    ) -> Outcome:
        """The answer once the lane job has one: idle continuation bookkeeping, superseded answers,
        the typed-ahead cache, prefetch and the context re-rank."""
        if job.idle and job in self._current:
            # answered early and now continuing: keystrokes must not abort it, only real work preempts it
            self._current.remove(job)
            self._track_idle(job)
            if result is not None and result.text:
                self._register_continuation(
                    early, snap.uri, prefix + result.text, suffix[result.replace_end :]
                )
        if result is None or seq != self._seq or (job.cancel.cancelled and early.answer is None):
            if not job.started:
                self._record(snap, Outcome(), t0, OutcomeKind.SUPERSEDED)
            return Outcome(kind=OutcomeKind.SUPERSEDED)
        if result.text:
            self.cache.remember(Shown(snap.uri, prefix, suffix, result.text, result.replace_end))
            if early.answer is None:
                self._prefetch(snap, result)
        self._refresh_context(snap)  # [latency] a pause: re-rank the context in idle time
        return result

    def _refresh_context(self, snap: Snapshot) -> None:
        """[latency] In idle time, re-rank the context at this pause; a changed one is evaluated there
        and held from then on (qwen_ls/context_hold.py). A newer refresh replaces a queued one."""
        pipeline, held = self.pipeline, self.held
        if pipeline is None or held is None or snap.path is None:
            return
        for job in self._idle:
            if job.kind == "context":
                job.abort("replaced")
        context_hold.schedule(self.lane, pipeline, held, snap, self._track_idle)

    def _track_idle(self, job: Job[Any]) -> None:
        """Remember idle work in flight (finished and aborted jobs are dropped: the list stays short)."""
        self._idle = [j for j in self._idle if not j.finished and not j.cancel.cancelled]
        self._idle.append(job)

    def _register_continuation(self, early: EarlyAnswer, uri: str, prefix: str, suffix: str) -> None:
        """On the event loop, once an early answer is out: its continuation computes the completion at
        (uri, prefix, suffix), and a request there waits for it. Not when it has already ended (the
        worker said so before this ran): nothing would end that wait."""
        if not early.continued:
            early.ahead = self._ahead = Ahead(uri, prefix, suffix, self.lane.loop.create_future())

    def _continuation_done(self, early: EarlyAnswer) -> None:
        if early.ahead is not None:
            self._ahead_done(early.ahead)

    def _ahead_done(self, ahead: Ahead) -> None:
        if not ahead.done.done():
            ahead.done.set_result(None)
        if self._ahead is ahead:
            self._ahead = None

    async def _await_continuation(self, uri: str, prefix: str, suffix: str) -> None:
        """A request at the very place an in-flight continuation or prefetch is computing (the user
        accepted the shown completion): wait for it rather than preempting it and starting over."""
        ahead = self._ahead
        if ahead is None or not ahead.at(uri, prefix, suffix):
            return
        try:
            await asyncio.wait_for(asyncio.shield(ahead.done), timeout=5)
        except asyncio.TimeoutError:
            pass

    def _prefetch(self, snap: Snapshot, shown: Outcome) -> None:
        """In idle time, compute the completion that follows accepting `shown`, so that accepting and
        going on is instant. Idle work yields at once to any real request (the lane preempts it)."""
        pipeline = self.pipeline
        if not self.prefetch_enabled or pipeline is None or not shown.text:
            return
        for job in self._idle:
            if job.kind == "prefetch":  # a newer prefetch replaces it; continuations and warm-ups go on
                job.abort("replaced")
        text = snap.text[: snap.offset] + shown.text + snap.text[snap.offset + shown.replace_end :]
        after = Snapshot(
            uri=snap.uri,
            text=text,
            offset=snap.offset + len(shown.text),
            version=None,
            language=snap.language,
            path=snap.path,
            rel_path=snap.rel_path,
            repo_name=snap.repo_name,
            invoked=False,
        )
        c = self.settings.completion
        # [latency] the length a request at that place would get: accepting and going on finds the same
        # completion, and a request that comes before it is done waits for it rather than starting over
        limit = self._pace(0.0).max_tokens

        def work(cancel: CancelToken) -> Outcome:
            deadline = time.monotonic() + c.deadline_ms / 1000 if c.deadline_ms > 0 else None
            with idle_batches(pipeline.engine):  # [latency] yields within one small prefill chunk
                out = pipeline.run(after, cancel, None, deadline=deadline, max_tokens=limit, kind="prefetch")
            if out.text and not cancel.cancelled:
                self.lane.loop.call_soon_threadsafe(
                    self.cache.remember,
                    Shown(snap.uri, text[: after.offset], text[after.offset :], out.text, out.replace_end),
                )
            return out

        job = self.lane.submit(work, kind="prefetch", priority=PRIORITY_IDLE)
        self._track_idle(job)
        self._ahead = Ahead(snap.uri, text[: after.offset], text[after.offset :], job.future)

    def prewarm(self, snap: Snapshot) -> None:
        """In idle time, evaluate the stable part of the prompt (repository context and the file's head),
        so that the next request only pays for its tail."""
        pipeline = self.pipeline
        if pipeline is None or self.lane.busy:
            return
        held = self.held
        if held is not None and snap.path is not None:
            # [latency] the document's first context selection, made and evaluated in idle time
            work_held = functools.partial(refresh_context, pipeline, held, snap)
            self._track_idle(self.lane.submit(work_held, kind="warm", priority=PRIORITY_IDLE))
            return

        def work(cancel: CancelToken) -> None:
            prompt, _ = pipeline.build_prompt(snap)
            stable = prompt.tokens[
                : max(prompt.n_stable, len(prompt.tokens) - len(prompt.window.suffix_tokens) - 2)
            ]
            if stable:
                pipeline.engine.generate(GenerationRequest(prompt=stable, max_tokens=0, kind="warm"), cancel)

        self._track_idle(self.lane.submit(work, kind="warm", priority=PRIORITY_IDLE))


def run_with_hold(
    pipeline: CompletionPipeline,
    snap: Snapshot,
    cancel: CancelToken,
    hold_until: float,
    deadline: float | None,
    on_partial: Callable[[str], None] | None,
    max_tokens: int | None = None,
    on_ready: Callable[[Outcome], None] | None = None,
    continue_tokens: int = 0,
    generate_s: float | None = None,
) -> Outcome:
    """Prefill now, generate after the debounce (on the engine thread).

    The prefill is never wasted: the next keystroke's prompt shares it up to the edit. Only when the
    user has paused for the debounce does generation start.
    """
    prefill = None
    if hold_until > time.monotonic():
        prompt, _ = pipeline.build_prompt(snap, record=True)  # this request's prompt, even if superseded
        prefill = pipeline.engine.generate(
            GenerationRequest(
                prompt=prompt.tokens, max_tokens=0, deadline=deadline, generate_s=generate_s, kind="prefill"
            ),
            cancel,
        )
        while not cancel.cancelled and time.monotonic() < hold_until:
            time.sleep(min(0.005, max(0.0, hold_until - time.monotonic())))
        if cancel.cancelled:
            return Outcome(kind=OutcomeKind.SUPERSEDED, prompt_tokens=len(prompt.tokens), prefill=prefill)

    def ready(out: Outcome) -> None:
        out.prefill = prefill
        out.generation_started = True
        if on_ready is not None:
            on_ready(out)

    out = pipeline.run(
        snap,
        cancel,
        on_partial,
        deadline=deadline,
        generate_s=generate_s,
        max_tokens=max_tokens,
        on_ready=ready if on_ready is not None else None,
        continue_tokens=continue_tokens,
    )
    out.prefill = prefill
    out.generation_started = True
    return out
