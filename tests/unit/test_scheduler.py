"""The engine lane: priorities, immediate answers on abort, idle work yielding to real requests."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from qwen_ls.engine.base import CancelToken
from qwen_ls.scheduler import PRIORITY_COMPLETION, PRIORITY_IDLE, PRIORITY_REPAIR, EngineLane

pytestmark = pytest.mark.timeout(20)


async def test_jobs_run_by_priority_on_one_thread() -> None:
    lane = EngineLane()
    gate = threading.Event()
    order: list[str] = []
    threads: set[int] = set()

    def blocker(cancel: CancelToken) -> None:
        gate.wait(5)

    def job(name: str):  # type: ignore[no-untyped-def]
        def run(cancel: CancelToken) -> str:
            order.append(name)
            threads.add(threading.get_ident())
            return name

        return run

    lane.submit(blocker, kind="x", priority=PRIORITY_COMPLETION)
    await asyncio.sleep(0.05)
    futures = [
        lane.submit(job("idle"), kind="idle", priority=PRIORITY_IDLE).future,
        lane.submit(job("repair"), kind="repair", priority=PRIORITY_REPAIR).future,
        lane.submit(job("completion"), kind="completion", priority=PRIORITY_COMPLETION).future,
    ]
    gate.set()
    assert await asyncio.gather(*futures) == ["idle", "repair", "completion"]
    assert order == ["completion", "repair", "idle"]
    assert len(threads) == 1 and threading.get_ident() not in threads
    lane.close()


async def test_abort_answers_at_once_and_the_worker_stops() -> None:
    lane = EngineLane()
    stopped = threading.Event()

    def long_job(cancel: CancelToken) -> str:
        while not cancel.cancelled:
            time.sleep(0.005)
        stopped.set()
        return "late"

    job = lane.submit(long_job, kind="completion", priority=PRIORITY_COMPLETION)
    await asyncio.sleep(0.05)
    t0 = time.perf_counter()
    job.abort("superseded")
    assert await job.future is None  # answered immediately, not when the worker notices
    assert time.perf_counter() - t0 < 0.05
    assert stopped.wait(1)
    assert job.cancel.reason == "superseded"
    lane.close()


async def test_idle_work_yields_to_a_real_request() -> None:
    lane = EngineLane()
    preempted = threading.Event()

    def idle(cancel: CancelToken) -> str:
        while not cancel.cancelled:
            time.sleep(0.005)
        preempted.set()
        return "idle"

    idle_job = lane.submit(idle, kind="prefetch", priority=PRIORITY_IDLE)
    await asyncio.sleep(0.05)
    assert lane.running_kind == "prefetch"
    t0 = time.perf_counter()
    real = lane.submit(lambda cancel: "real", kind="completion", priority=PRIORITY_COMPLETION)
    assert await asyncio.wait_for(real.future, 2) == "real"
    assert time.perf_counter() - t0 < 0.5
    assert preempted.is_set() and idle_job.cancel.reason == "preempted"
    lane.close()


async def test_queued_job_that_was_aborted_never_starts() -> None:
    lane = EngineLane()
    gate = threading.Event()
    lane.submit(lambda c: gate.wait(5), kind="x", priority=PRIORITY_COMPLETION)
    ran: list[int] = []
    job = lane.submit(lambda c: ran.append(1), kind="completion", priority=PRIORITY_COMPLETION)
    job.abort("superseded")
    gate.set()
    await asyncio.sleep(0.1)
    assert ran == [] and not job.started
    lane.close()


async def test_exceptions_reach_the_waiter() -> None:
    lane = EngineLane()

    def boom(cancel: CancelToken) -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError):
        await lane.submit(boom, kind="x", priority=1).future
    lane.close()
