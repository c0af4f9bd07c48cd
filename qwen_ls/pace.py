"""How much a completion may cost, from the measured speed of this machine and model.

The rule (README, configuration reference, `completion.maxTokens` and `completion.deadlineMs`):

- The answer at a pause should arrive about `PAUSE_TARGET_S` (one second) after the last keystroke.
  Before generation starts, the request waits out the debounce while its prompt's new tokens (the edit
  and the text after the cursor) are evaluated, so generation gets what is left of the second:
  ``tokens = generate_tps * (PAUSE_TARGET_S - max(debounce, suffix / prefill_tps) - OVERHEAD_S)``,
  at least `MIN_TOKENS` and at most `completion.maxTokens`. Until the speed has been measured (the first
  answers after start), `UNMEASURED_TOKENS`. With no deadline (`completion.deadlineMs: 0`) there is no
  pause to fit: the length is `completion.maxTokens`.
- The deadline is `completion.deadlineMs`, but never less than twice the time the measured speed
  predicts for the planned tokens: a request planned to fit is not cut to nothing by its own deadline
  on a slow moment (a deadline answer keeps the complete lines generated so far).
- The deadline never cuts the evaluation of the prompt, and generation gets `generate_s` after it (twice
  the predicted generation time; `deadlineMs` until the speed is measured), even past the deadline: a
  prompt that is not in the cache yet (the first request in a file, a jump elsewhere) makes that answer
  late, not empty. Typing on cancels it, and what it evaluated stays in the cache for the next request.
- The text after the cursor is capped to what `KEYSTROKE_PREFILL_S` of prefill evaluates, since every
  suffix token is evaluated again on each keystroke.

Speeds come from a `Speed` (moving averages of tokens/s over recent requests; duck-typed here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

#: Time from the last keystroke to the answer at a pause that the generated length is sized for.
PAUSE_TARGET_S = 1.0
#: Seconds reserved for everything but prefill and generation (post-processing, the LSP round trip).
OVERHEAD_S = 0.08
#: The shortest generation planned (a few tokens still make a useful completion).
MIN_TOKENS = 8
#: Tokens generated while the speed is not measured yet.
UNMEASURED_TOKENS = 16
#: Seconds of prefill one keystroke may spend on the text after the cursor.
KEYSTROKE_PREFILL_S = 0.15


class MeasuredSpeed(Protocol):
    prefill_tps: float | None
    generate_tps: float | None


@dataclass(frozen=True)
class Plan:
    #: most suffix tokens (None: the settings alone decide)
    suffix_cap: int | None
    #: tokens to generate for the answer
    max_tokens: int
    #: seconds from the request to its deadline (None: no deadline)
    deadline_s: float | None
    #: what the measured speed predicts from the last keystroke to the answer (None: not measured)
    predicted_s: float | None
    #: seconds generation may take after the prompt's evaluation, past the deadline if need be (None: no
    #: deadline)
    generate_s: float | None = None


def plan(
    speed: MeasuredSpeed,
    *,
    debounce_s: float,
    deadline_ms: int,
    suffix_tokens: int,
    max_tokens: int,
) -> Plan:
    """The generated length, suffix cap and deadline for one request (see the module docstring)."""
    prefill_tps, generate_tps = speed.prefill_tps, speed.generate_tps
    suffix_cap = None
    prefill_s = 0.0
    if prefill_tps:
        suffix_cap = max(16, min(suffix_tokens, int(prefill_tps * KEYSTROKE_PREFILL_S)))
        prefill_s = (suffix_cap + 4) / prefill_tps
    wait_s = max(debounce_s, prefill_s)
    predicted = None
    if generate_tps:
        room = PAUSE_TARGET_S - wait_s - OVERHEAD_S
        limit = min(max_tokens, max(MIN_TOKENS, int(generate_tps * room)))
        predicted = wait_s + limit / generate_tps + OVERHEAD_S
    else:
        limit = min(max_tokens, UNMEASURED_TOKENS)
    if deadline_ms <= 0:  # no deadline (`deadlineMs: 0`): no pause to fit, `maxTokens` is the length
        limit = max_tokens
        predicted = wait_s + limit / generate_tps + OVERHEAD_S if generate_tps else None
    deadline_s = generate_s = None
    if deadline_ms > 0:
        deadline_s = deadline_ms / 1000
        if predicted is not None:
            deadline_s = max(deadline_s, 2 * predicted)
        generate_s = 2 * (limit / generate_tps + OVERHEAD_S) if generate_tps else deadline_ms / 1000
    return Plan(suffix_cap, max(1, limit), deadline_s, predicted, generate_s)
