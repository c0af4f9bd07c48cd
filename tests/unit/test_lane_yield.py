"""Whatever holds the engine lane yields to a real request: idle work at once, a repair within one step
and then runs again (its waiter gets the second run's result)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from qwen_ls.engine.base import CancelToken
from qwen_ls.scheduler import PRIORITY_COMPLETION, PRIORITY_IDLE, PRIORITY_REPAIR, YIELD, EngineLane

pytestmark = pytest.mark.timeout(20)

STEP_S = 0.01  # one "token" of the fake work


def _stepping(
    log: list[tuple[str, int]], name: str, steps: int, started: threading.Event
) -> Callable[[CancelToken], str]:
    """Work that checks its cancel token between steps, as the engine does between tokens."""

    def run(cancel: CancelToken) -> str:
        started.set()
        for i in range(steps):
            if cancel.cancelled:
                log.append((f"{name}:stopped:{cancel.reason}", i))
                return f"{name}:cancelled"
            time.sleep(STEP_S)
        log.append((f"{name}:done", steps))
        return f"{name}:done"

    return run


async def test_a_repair_yields_to_a_completion_within_one_step_and_runs_again() -> None:
    lane = EngineLane()
    log: list[tuple[str, int]] = []
    started = threading.Event()
    repair = lane.submit(
        _stepping(log, "repair", 40, started), kind="repair", priority=PRIORITY_REPAIR, restartable=True
    )
    assert await asyncio.to_thread(started.wait, 5)
    await asyncio.sleep(0.05)
    t0 = time.perf_counter()
    began: list[float] = []

    def completion(cancel: CancelToken) -> str:
        began.append(time.perf_counter() - t0)
        return "completion"

    done = lane.submit(completion, kind="completion", priority=PRIORITY_COMPLETION)
    assert await done.future == "completion"
    # the repair stopped at its next check: the completion started within about one step
    assert began and began[0] < 0.5  # one step is 10 ms; generous for a loaded machine
    assert log[0][0] == f"repair:stopped:{YIELD}"
    assert not repair.future.done() or repair.future.result() == "repair:done"
    # ... and ran again from the start; its waiter gets that run's result, never the cancelled one
    assert await asyncio.wait_for(repair.future, 10) == "repair:done"
    assert repair.yields == 1 and lane.yielded == 1
    lane.close()


async def test_idle_work_is_preempted_and_a_repair_is_not_preempted_by_idle_work() -> None:
    lane = EngineLane()
    log: list[tuple[str, int]] = []
    started = threading.Event()
    idle = lane.submit(_stepping(log, "idle", 100, started), kind="prefetch", priority=PRIORITY_IDLE)
    assert await asyncio.to_thread(started.wait, 5)
    started.clear()
    repair = lane.submit(
        _stepping(log, "repair", 5, started), kind="repair", priority=PRIORITY_REPAIR, restartable=True
    )
    assert await idle.future is None  # answered at once when preempted
    later = lane.submit(lambda c: "idle2", kind="prefetch", priority=PRIORITY_IDLE)
    assert await asyncio.wait_for(repair.future, 10) == "repair:done"
    assert await asyncio.wait_for(later.future, 10) == "idle2"
    assert repair.yields == 0
    lane.close()


async def test_a_cancelled_restartable_job_is_not_run_again() -> None:
    lane = EngineLane()
    log: list[tuple[str, int]] = []
    started = threading.Event()
    repair = lane.submit(
        _stepping(log, "repair", 200, started), kind="repair", priority=PRIORITY_REPAIR, restartable=True
    )
    assert await asyncio.to_thread(started.wait, 5)
    repair.abort("request cancelled")
    assert await repair.future is None
    await asyncio.sleep(0.1)
    assert [e for e, _ in log] == ["repair:stopped:request cancelled"]
    assert lane.started_by_kind["repair"] == 1
    lane.close()
