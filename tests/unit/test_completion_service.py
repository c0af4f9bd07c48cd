"""Typed-ahead reuse, adaptive debounce and measured speed (pure parts of the completion service)."""

from __future__ import annotations

import asyncio

import pytest

from qwen_ls.completion_service import Debounce, Shown, Speed, TypedAhead
from qwen_ls.engine.base import GenerationResult


def test_typed_ahead_answers_with_the_rest_of_the_suggestion() -> None:
    cache = TypedAhead()
    prefix, suffix = "def add(a, b):\n    ", "\n"
    cache.remember(Shown("u", prefix, suffix, "return a + b", 0))
    assert cache.lookup("u", prefix + "ret", suffix) == ("urn a + b", 0)
    assert cache.lookup("u", prefix + "return a", suffix) == (" + b", 0)
    # typing something else, or in another document, or with another suffix: no hit
    assert cache.lookup("u", prefix + "pass", suffix) is None
    assert cache.lookup("v", prefix + "ret", suffix) is None
    assert cache.lookup("u", prefix + "ret", "x\n") is None
    # typing the whole suggestion leaves nothing to show from it
    assert cache.lookup("u", prefix + "return a + b", suffix) is None


def test_lru_hit_when_coming_back_to_the_same_place() -> None:
    cache = TypedAhead(size=2)
    cache.remember(Shown("u", "x = ", "", "1", 0))
    assert cache.lookup("u", "x = ", "") == ("1", 0)
    cache.remember(Shown("u", "y = ", "", "2", 0))
    cache.remember(Shown("u", "z = ", "", "3", 0))
    assert cache.lookup("u", "x = ", "") is None  # evicted
    cache.forget("u")
    assert cache.lookup("u", "z = ", "") is None


def test_debounce_follows_typing_speed() -> None:
    d = Debounce()
    assert d.delay() == 0.12  # before it has seen typing
    t = 0.0
    for _ in range(20):
        t += 0.06
        d.keystroke(t)
    fast = d.delay()
    d2 = Debounce()
    t = 0.0
    for _ in range(20):
        t += 0.2
        d2.keystroke(t)
    assert 0.04 <= fast < d2.delay() <= 0.35
    d2.keystroke(t + 5.0)  # a pause is not a typing gap
    assert d2.delay() <= 0.35
    assert Debounce(fixed_ms=0).delay() == 0.0


def test_speed_is_measured_from_results() -> None:
    s = Speed()
    s.observe(None)
    assert (s.prefill_tps, s.generate_tps) == (None, None)  # nothing measured yet
    s.observe(
        GenerationResult(n_evaluated=200, t_prefill=1.0, n_generated=21, t_first_token=1.05, t_generate=0.55)
    )
    assert s.prefill_tps == 200.0
    assert s.generate_tps == pytest.approx(40.0)  # 20 tokens after the first in 0.5 s
    s.observe(
        GenerationResult(n_evaluated=8, t_prefill=1.0, n_generated=2, t_first_token=1.0, t_generate=1.0)
    )
    assert (s.prefill_tps, s.generate_tps) == (
        200.0,
        pytest.approx(40.0),
    )  # too few tokens to measure: no change
    s.observe(GenerationResult(n_evaluated=100, t_prefill=1.0, n_generated=0))
    assert s.prefill_tps == pytest.approx(170.0)  # a moving average, not the last value


async def test_idle_work_list_stays_short() -> None:
    from qwen_ls.completion_service import CompletionService
    from qwen_ls.scheduler import PRIORITY_IDLE, EngineLane
    from qwen_ls.stats import Stats

    lane = EngineLane()
    service = CompletionService(lane, Stats())
    for _ in range(50):
        service._track_idle(lane.submit(lambda cancel: None, kind="warm", priority=PRIORITY_IDLE))
        await asyncio.sleep(0.002)
    await asyncio.sleep(0.05)
    service._track_idle(lane.submit(lambda cancel: None, kind="warm", priority=PRIORITY_IDLE))
    assert len(service._idle) <= 3  # finished jobs (and their snapshots) are not kept
    lane.close()


async def test_work_ahead_is_waited_for_only_at_its_place_and_while_it_runs() -> None:
    from qwen_ls.completion_service import Ahead, CompletionService, EarlyAnswer
    from qwen_ls.scheduler import EngineLane
    from qwen_ls.stats import Stats

    loop = asyncio.get_running_loop()
    lane = EngineLane()
    service = CompletionService(lane, Stats())
    running: asyncio.Future[None] = loop.create_future()
    service._ahead = Ahead("file:///a.py", "def f(", "\n", running)
    # a request elsewhere does not wait
    await asyncio.wait_for(service._await_continuation("file:///a.py", "def f(x", "\n"), 0.5)
    # a request at its place waits for it
    waiter = asyncio.ensure_future(service._await_continuation("file:///a.py", "def f(", "\n"))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    # an older continuation that ends now neither ends that wait nor drops the newer slot
    older = EarlyAnswer()
    older.ahead = Ahead("file:///a.py", "def g(", "\n", loop.create_future())
    service._continuation_done(older)
    assert older.ahead.done.done()
    await asyncio.sleep(0.05)
    assert not waiter.done() and service._ahead is not None
    running.set_result(None)
    await asyncio.wait_for(waiter, 1)
    # finished work is not waited for
    await asyncio.wait_for(service._await_continuation("file:///a.py", "def f(", "\n"), 0.5)
    lane.close()


async def test_a_continuation_that_ended_before_the_loop_heard_of_its_answer_leaves_no_wait() -> None:
    from qwen_ls.completion_service import CompletionService, EarlyAnswer
    from qwen_ls.scheduler import EngineLane
    from qwen_ls.stats import Stats

    lane = EngineLane()
    service = CompletionService(lane, Stats())
    ended = EarlyAnswer()
    ended.continued = True  # the worker finished the continuation before the event loop saw the answer
    service._register_continuation(ended, "file:///a.py", "def f(", "\n")
    assert service._ahead is None and ended.ahead is None
    # (with the old code this slot was registered and never resolved: a request there waited 5 s)
    await asyncio.wait_for(service._await_continuation("file:///a.py", "def f(", "\n"), 0.5)
    going = EarlyAnswer()
    service._register_continuation(going, "file:///a.py", "def f(", "\n")
    assert service._ahead is going.ahead is not None
    service._continuation_done(going)
    assert service._ahead is None and going.ahead.done.done()
    lane.close()
