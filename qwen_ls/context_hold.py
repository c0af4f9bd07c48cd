"""Repository context that holds still while the user types, and changes only in idle time.

The context block sits early in the prompt, so any change to it moves everything after it: on a CPU a
re-ranked context mid-typing cost 256-768 re-evaluated tokens (2-4 s) on the keystroke path. Here the
keystroke path never re-ranks: a request gets the context its document last had (the *held* selection,
trimmed at its end if the budget shrank, which the engine's KV shifting absorbs).

Re-ranking happens in idle time, as idle work on the engine lane: after an answer at a pause
(`schedule`) and when a document opens (`refresh`). If the new selection differs from
the held one, its prompt is evaluated right away as idle work, in small chunks that yield to any real
request. Only when that evaluation finishes does the new selection become the held one; if a keystroke
preempts it, the KV cache is put back from a checkpoint, so the keystroke finds the cache as it expects
it and evaluates only the tokens that changed.

The first request for a document (nothing held yet) retrieves on the request path; `qwen.stats` counts it
under `contextHold.first`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qwen_ls.engine import kv_checkpoint
from qwen_ls.engine.base import CancelToken, GenerationRequest
from qwen_ls.scheduler import PRIORITY_IDLE, EngineLane, Job

if TYPE_CHECKING:
    from qwen_ls.completion import CompletionPipeline, Snapshot
    from qwen_ls.context.types import ContextResult

log = logging.getLogger(__name__)

#: Prefill chunk of idle work (tokens): a real request waits for at most one such chunk.
IDLE_BATCH = 64
#: Documents whose selection is held (the least recently used is dropped first).
MAX_HELD = 64


@dataclass
class _Held:
    result: ContextResult
    line: int


class HeldContext:
    """Wraps a context engine: `retrieve` answers from the held selection on the keystroke path.

    Everything else (`on_change`, `stats`, `relative_path`, ...) goes to the wrapped engine.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._lock = threading.Lock()
        self._mode = threading.local()
        self.counters: dict[str, int] = {
            "held": 0,  # keystroke-path requests answered with the held selection
            "trimmed": 0,  # ... of which the selection lost trailing snippets to fit a smaller budget
            "first": 0,  # documents whose first selection was made on the request path
            "refreshes": 0,  # idle-time re-ranks
            "unchanged": 0,  # ... that found the same selection
            "opened": 0,  # ... that made a document's first selection (when it opened)
            "changesIdle": 0,  # ... that changed it, its prompt evaluated in idle time
            "abandoned": 0,  # ... preempted by a keystroke and rolled back (the old selection stays)
            "tokensIdle": 0,  # prompt tokens those idle-time changes evaluated
            "restoreMs": 0,  # time spent putting the KV cache back after abandoned refreshes
        }

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @staticmethod
    def _key(path: Path) -> str:
        return Path(os.path.abspath(path)).as_posix()

    @contextlib.contextmanager
    def fresh(self) -> Iterator[None]:
        """Within this block (on this thread) `retrieve` re-ranks and does not change what is held."""
        self._mode.fresh = True
        try:
            yield
        finally:
            self._mode.fresh = False

    def retrieve(
        self, path: Path, text: str, offset: int, budget: int, window: tuple[int, int] | None = None
    ) -> ContextResult:
        if getattr(self._mode, "fresh", False):
            return self.inner.retrieve(path, text, offset, budget, window)
        key = self._key(path)
        line = text.count("\n", 0, max(0, min(offset, len(text))))
        with self._lock:
            held = self._held.get(key)
        if held is None:
            result = self.inner.retrieve(path, text, offset, budget, window)
            self.hold(path, result, line)
            self._count("first")
            return result
        t0 = time.perf_counter()
        result = held.result
        if result.used > budget:
            snippets = list(result.snippets)
            while snippets and sum(s.tokens for s in snippets) > budget:
                snippets.pop()
            result = dataclasses.replace(
                result, snippets=tuple(snippets), used=sum(s.tokens for s in snippets)
            )
            self.hold(path, result, held.line)
            self._count("trimmed")
        self._count("held")
        return dataclasses.replace(
            result, budget=budget, reranked=False, elapsed_ms=(time.perf_counter() - t0) * 1000
        )

    def hold(self, path: Path, result: ContextResult, line: int) -> None:
        key = self._key(path)
        with self._lock:
            self._held[key] = _Held(result, line)
            self._held.move_to_end(key)
            while len(self._held) > MAX_HELD:
                self._held.popitem(last=False)

    def held(self, path: Path) -> ContextResult | None:
        with self._lock:
            h = self._held.get(self._key(path))
        return h.result if h is not None else None

    def forget(self, path: Path) -> None:
        with self._lock:
            self._held.pop(self._key(path), None)

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counters)


def same_selection(a: ContextResult | None, b: ContextResult | None) -> bool:
    if a is None or b is None:
        return a is b
    return [(s.path, s.text) for s in a.snippets] == [(s.path, s.text) for s in b.snippets]


@contextlib.contextmanager
def idle_batches(engine: Any, n_batch: int = IDLE_BATCH) -> Iterator[None]:
    """Evaluate prompts in chunks of `n_batch` tokens inside this block (the in-process engine checks
    cancellation between chunks, so idle work yields to a real request within one small chunk)."""
    settings: Any = getattr(engine, "settings", None)
    n = getattr(settings, "n_batch", None)
    if not isinstance(n, int) or not dataclasses.is_dataclass(settings) or isinstance(settings, type):
        yield
        return
    engine.settings = dataclasses.replace(settings, n_batch=min(n_batch, n))
    try:
        yield
    finally:
        engine.settings = settings


def warm_tokens(tokens: list[int], n_suffix: int) -> list[int]:
    """The part of a prompt worth evaluating ahead: all but the text after the cursor and the two FIM
    markers around it (the next keystroke changes what follows the cursor anyway)."""
    return tokens[: max(0, len(tokens) - n_suffix - 2)]


@dataclass
class Prepared:
    """A re-ranked context and the prompt tokens to evaluate for it (made off the engine lane)."""

    path: Path
    line: int
    result: ContextResult
    tokens: list[int]
    #: the held selection it replaces (None: the document's first)
    before: ContextResult | None


def prepare(pipeline: CompletionPipeline, held: HeldContext, snap: Snapshot) -> Prepared | str:
    """Re-rank the context at `snap` (any thread: no engine work). Returns what to evaluate, or why
    there is nothing to: "no-context", "unchanged" (the same snippets: the held one stays)."""
    if snap.path is None:
        return "no-context"
    with held.fresh():
        prompt, ctx = pipeline.build_prompt(snap)
    if ctx is None:
        return "no-context"
    line = snap.text.count("\n", 0, snap.offset)
    before = held.held(snap.path)
    held._count("refreshes")
    if before is not None and same_selection(before, ctx):
        held._count("unchanged")
        return "unchanged"
    tokens = warm_tokens(prompt.tokens, len(prompt.window.suffix_tokens))
    return Prepared(snap.path, line, ctx, tokens, before)


def apply(pipeline: CompletionPipeline, held: HeldContext, prepared: Prepared, cancel: CancelToken) -> str:
    """On the engine lane, in idle time: evaluate the prepared prompt in small chunks and hold its
    context; if preempted, put the KV cache back. Returns "changed", "opened", "abandoned" or "stale"
    (another refresh got there first)."""
    if held.held(prepared.path) is not prepared.before:
        return "stale"
    engine = pipeline.engine
    checkpoint = kv_checkpoint.take(engine) if prepared.before is not None else None
    request = GenerationRequest(prompt=prepared.tokens, max_tokens=0, kind="context")
    with idle_batches(engine):
        result = engine.generate(request, cancel)
    if cancel.cancelled or result.stop_reason in ("cancelled", "deadline", "error"):
        t0 = time.perf_counter()
        if checkpoint is not None:
            kv_checkpoint.restore(engine, checkpoint)
        held._count("restoreMs", round((time.perf_counter() - t0) * 1000))
        held._count("abandoned")
        return "abandoned"
    held.hold(prepared.path, prepared.result, prepared.line)
    if prepared.before is None:
        held._count("opened")
        return "opened"
    held._count("changesIdle")
    held._count("tokensIdle", result.n_evaluated)
    log.debug("context refreshed in idle time: %d tokens evaluated", result.n_evaluated)
    return "changed"


def refresh(pipeline: CompletionPipeline, held: HeldContext, snap: Snapshot, cancel: CancelToken) -> str:
    """`prepare` and `apply` in one go (on the engine lane)."""
    prepared = prepare(pipeline, held, snap)
    if isinstance(prepared, str):
        return prepared
    return apply(pipeline, held, prepared, cancel)


def schedule(
    lane: EngineLane,
    pipeline: CompletionPipeline,
    held: HeldContext,
    snap: Snapshot,
    on_job: Callable[[Job[str]], None],
) -> None:
    """After an answer at a pause: re-rank and, if the context changed, evaluate it, as idle work on the
    engine lane (any real request preempts it). The re-rank runs there too, not in a thread beside the
    model: on a small CPU a thread re-ranking next to llama.cpp's threads slowed the model down."""
    on_job(
        lane.submit(functools.partial(refresh, pipeline, held, snap), kind="context", priority=PRIORITY_IDLE)
    )
