"""The generated length and deadline chosen from the measured speed (qwen_ls/pace.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from qwen_ls import pace


@dataclass
class FakeSpeed:
    prefill_tps: float | None = None
    generate_tps: float | None = None


def test_unmeasured_speed_plans_a_short_generation() -> None:
    p = pace.plan(FakeSpeed(), debounce_s=0.12, deadline_ms=3000, suffix_tokens=256, max_tokens=64)
    assert p.max_tokens == pace.UNMEASURED_TOKENS
    assert p.suffix_cap is None and p.predicted_s is None
    assert p.deadline_s == 3.0


def test_the_answer_is_sized_to_land_within_the_pause_target() -> None:
    speed = FakeSpeed(prefill_tps=400.0, generate_tps=30.0)
    p = pace.plan(speed, debounce_s=0.12, deadline_ms=3000, suffix_tokens=256, max_tokens=64)
    # suffix: 0.15 s of prefill = 60 tokens; waiting = max(0.12, 64/400=0.16) s
    assert p.suffix_cap == 60
    assert p.max_tokens == int(30.0 * (pace.PAUSE_TARGET_S - 0.16 - pace.OVERHEAD_S))
    assert p.predicted_s is not None and p.predicted_s <= pace.PAUSE_TARGET_S + 1e-9
    assert p.deadline_s == 3.0


@pytest.mark.parametrize("tps", [2.0, 5.0])
def test_a_slow_machine_still_generates_a_few_tokens_and_gets_time_for_them(tps: float) -> None:
    slow = FakeSpeed(100.0, tps)
    p = pace.plan(slow, debounce_s=0.3, deadline_ms=1000, suffix_tokens=256, max_tokens=64)
    assert p.max_tokens == pace.MIN_TOKENS
    assert p.predicted_s is not None
    # the deadline never cuts a planned answer: at least twice the predicted time
    assert p.deadline_s is not None and p.deadline_s >= 2 * p.predicted_s > 1.0


def test_a_fast_machine_is_capped_by_the_settings() -> None:
    p = pace.plan(FakeSpeed(20000.0, 400.0), debounce_s=0.05, deadline_ms=0, suffix_tokens=256, max_tokens=64)
    assert p.max_tokens == 64 and p.suffix_cap == 256
    assert p.deadline_s is None
    small = pace.plan(
        FakeSpeed(20000.0, 400.0), debounce_s=0.05, deadline_ms=0, suffix_tokens=256, max_tokens=4
    )
    assert small.max_tokens == 4  # never more than completion.maxTokens, even below MIN_TOKENS


def test_generation_gets_its_time_after_the_prompt_evaluation() -> None:
    # not measured yet: a whole deadline's worth after the evaluation
    assert (
        pace.plan(FakeSpeed(), debounce_s=0.1, deadline_ms=3000, suffix_tokens=256, max_tokens=64).generate_s
        == 3.0
    )
    p = pace.plan(FakeSpeed(400.0, 30.0), debounce_s=0.1, deadline_ms=3000, suffix_tokens=256, max_tokens=64)
    assert p.generate_s == pytest.approx(2 * (p.max_tokens / 30.0 + pace.OVERHEAD_S))
    # no deadline: nothing to extend
    assert (
        pace.plan(
            FakeSpeed(400.0, 30.0), debounce_s=0.1, deadline_ms=0, suffix_tokens=256, max_tokens=64
        ).generate_s
        is None
    )
