"""The engine lane: the only place with concurrency between the event loop and the model.

One worker thread owns the engine. Work is submitted from the event loop as jobs with a priority
(completions first, then repairs, then idle work such as prefetch and pre-warm) and a cancel token.
A cancelled job resolves its future at once (the request is answered immediately) while the worker
notices the token within one token or one prefill chunk. Idle work is preempted by any real job; a
restartable job (a repair) yields to a job of higher priority (a completion) and runs again after it.
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

#: The cancel reason of a restartable job that makes way for a job of higher priority.
YIELD = "yield"


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
    #: yields to higher-priority work and then starts over (its waiter keeps waiting); e.g. a repair
    restartable: bool = False
    #: how often it yielded
    yields: int = 0

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
        #: the job the worker is handling, until its answer is handed to the loop (crash recovery)
        self._current: Job[Any] | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()
        self.started = 0  # jobs whose function actually started
        self.started_by_kind: dict[str, int] = {}
        #: idle jobs that yielded to a real request
        self.preempted = 0
        #: restartable jobs that yielded to a job of higher priority
        self.yielded = 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def submit(
        self, fn: Callable[[CancelToken], T], *, kind: str, priority: int, restartable: bool = False
    ) -> Job[T]:
        loop = self.loop
        job: Job[T] = Job(
            kind=kind, priority=priority, fn=fn, future=loop.create_future(), restartable=restartable
        )
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
            elif (
                running is not None
                and running.restartable
                and priority < running.priority
                and not running.cancel.cancelled
            ):
                # stops within one token or prefill chunk; `_work` queues it again, its waiter waits on
                running.cancel.cancel(YIELD)
                self.yielded += 1
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
        """The worker thread. A crash in the lane's own book-keeping (not in a job: a job's exception
        goes to its waiter) is logged; the job it was running is answered with the error, and the
        worker goes on with the next job instead of leaving every later request waiting (issue 15)."""
        while True:
            try:
                self._work_loop()
                return
            except BaseException as exc:
                log.exception("the engine worker crashed; it goes on with the next job")
                with self._cond:
                    job, self._current = self._current, None
                    self._running = None
                if job is not None:
                    job.finished = True
                    try:  # (a no-op when its answer already went out: `_set_exception` checks)
                        self._loop_call(_set_exception, job.future, exc)
                    except BaseException:
                        log.exception("could not answer the job that crashed the worker")

    def _work_loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                _, _, job = heapq.heappop(self._heap)
                if job.cancel.cancelled or (job.restartable and job.future.done()):
                    _release(job)
                    continue
                self._running = self._current = job
                job.started = True
            self.started += 1
            self.started_by_kind[job.kind] = self.started_by_kind.get(job.kind, 0) + 1
            try:
                result = job.fn(job.cancel)
            except BaseException as exc:
                if self._requeue(job):
                    continue
                self._done(job)
                self._loop_call(_set_exception, job.future, exc)
            else:
                if self._requeue(job):
                    continue
                self._done(job)
                self._loop_call(_set_result, job.future, result)
            self._current = None

    def _done(self, job: Job[Any]) -> None:
        """The job's slot is free before its waiter is answered: a client that asks `qwen.stats` right
        after the answer must not see the answered job as still running."""
        job.finished = True
        _release(job)
        with self._cond:
            self._running = None

    def _requeue(self, job: Job[Any]) -> bool:
        """A restartable job that yielded goes back in the queue with a fresh cancel token."""
        with self._cond:
            if job.cancel.reason != YIELD or self._closed or job.future.done():
                return False
            job.cancel = CancelToken()
            job.cancel.owner = job
            job.yields += 1
            heapq.heappush(self._heap, (job.priority, next(self._seq), job))
            self._running = None
            return True


def _released(cancel: CancelToken) -> None:
    return None


def _release(job: Job[Any]) -> None:
    """Drop a job's work function once it will not run (again): its closure holds the engine and the
    pipeline (its future, the loaded engine), and a job lives on in lists and in the cycle job -> cancel
    token -> job long after it ran, which kept an unloaded model in memory until a full collection."""
    job.fn = _released
    job.cancel.owner = None


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
    else:
        log.debug("job failed after its waiter left: %r", exc)
