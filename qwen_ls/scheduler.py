"""The engine lane: the only place with concurrency between the event loop and the model.

One worker thread owns the engine. Work is submitted from the event loop as jobs with a priority
(completions first, then repairs, then idle work such as prefetch and pre-warm) and a cancel token.
A cancelled job resolves its future at once (the request is answered immediately) while the worker
notices the token within one token or one prefill chunk. Idle work is preempted by any real job.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from qwen_ls.engine.base import CancelToken

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Priorities: lower runs first.
PRIORITY_LOAD = 0
PRIORITY_COMPLETION = 1
PRIORITY_REPAIR = 2
PRIORITY_IDLE = 9


@dataclass(eq=False)
class Job(Generic[T]):
    kind: str
    priority: int
    fn: Callable[[CancelToken], T]
    future: asyncio.Future[T | None]
    cancel: CancelToken = field(default_factory=CancelToken)
    started: bool = False
    #: the work function has returned (its waiter may have been answered long before)
    finished: bool = False

    def abort(self, reason: str = "cancelled") -> None:
        """Cancel the job and answer its waiter now (with None); the worker stops at its next check."""
        self.cancel.cancel(reason)
        if not self.future.done():
            self.future.set_result(None)

    @property
    def idle(self) -> bool:
        return self.priority >= PRIORITY_IDLE

    def demote(self) -> None:
        """From now on this job is idle work: any real request preempts it."""
        self.priority = PRIORITY_IDLE


class EngineLane:
    """A single worker thread that runs jobs by priority; submit and cancel from the event loop only."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, name: str = "qwen-engine") -> None:
        self._loop = loop
        self._heap: list[tuple[int, int, Job[Any]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._running: Job[Any] | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()
        self.started = 0  # jobs whose function actually started
        self.started_by_kind: dict[str, int] = {}
        #: idle jobs that yielded to a real request
        self.preempted = 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def submit(self, fn: Callable[[CancelToken], T], *, kind: str, priority: int) -> Job[T]:
        loop = self.loop
        job: Job[T] = Job(kind=kind, priority=priority, fn=fn, future=loop.create_future())
        job.cancel.owner = job
        with self._cond:
            if self._closed:
                job.abort("closed")
                return job
            running = self._running
            if (
                running is not None
                and running.idle
                and priority < PRIORITY_IDLE
                and not running.cancel.cancelled
            ):
                running.abort("preempted")  # idle work yields at once to a real request
                self.preempted += 1
            heapq.heappush(self._heap, (priority, next(self._seq), job))
            self._cond.notify()
        return job

    def cancel_where(self, predicate: Callable[[Job[Any]], bool], reason: str) -> int:
        """Abort queued and running jobs that match; returns how many."""
        n = 0
        with self._cond:
            jobs = [j for _, _, j in self._heap]
            if self._running is not None:
                jobs.append(self._running)
        for job in jobs:
            if not job.cancel.cancelled and predicate(job):
                job.abort(reason)
                n += 1
        return n

    def resolve_early(self, job: Job[Any], value: Any) -> None:
        """Answer a job's waiter from the worker thread while the job goes on (e.g. as idle work)."""
        self._loop_call(_set_result, job.future, value)

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._running is not None or bool(self._heap)

    @property
    def running_kind(self) -> str | None:
        with self._cond:
            return self._running.kind if self._running is not None else None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            pending = [j for _, _, j in self._heap]
            self._heap.clear()
            running = self._running
            self._cond.notify_all()
        for job in pending:
            self._loop_call(job.abort, "closed")
        if running is not None:
            running.cancel.cancel("closed")

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    # -- worker -----------------------------------------------------------------------------------

    def _loop_call(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # loop closed while we were finishing
            pass

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._heap and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                _, _, job = heapq.heappop(self._heap)
                if job.cancel.cancelled:
                    continue
                self._running = job
                job.started = True
            self.started += 1
            self.started_by_kind[job.kind] = self.started_by_kind.get(job.kind, 0) + 1
            try:
                result = job.fn(job.cancel)
            except BaseException as exc:
                self._loop_call(_set_exception, job.future, exc)
            else:
                self._loop_call(_set_result, job.future, result)
            finally:
                job.finished = True
                with self._cond:
                    self._running = None


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
    else:
        log.debug("job failed after its waiter left: %r", exc)
