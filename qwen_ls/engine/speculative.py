"""Speculative decoding for the embedded engine: verify a draft in one pass, keep what greedy agrees with.

The engine emits token t; instead of evaluating t alone, it evaluates t plus a draft d1..dk (from a
`Drafter`) in one batch with logits at every position. Row j's argmax is what greedy decoding would
pick after t, d1..dj. Drafts are accepted while they equal those picks; the first disagreement (or the
row after the last draft) gives one more token for free. The KV cells of the rejected drafts are
removed (`llama_memory_seq_rm`), so the cache holds exactly the tokens greedy decoding would have
evaluated: the output and the cache are those of plain greedy decoding, in fewer target passes.

Only greedy requests draft (sampled ones would need rejection sampling to keep their distribution).

`DraftPolicy` decides the draft length. Mode "prompt-lookup" always drafts up to `draft_max` tokens;
mode "auto" drafts only while the measured gain is positive. Its rule: a pass that verifies k drafts
costs c(k) = 1 + a*k one-token passes, with `a` measured from the engine's own passes (the ratio of a
verification pass's time to a one-token pass's time, both as moving averages); it yields 1 + E[min(A, k)]
tokens, with A the drafts accepted in the last 64 verifications. It drafts the k that maximises
(1 + E[min(A, k)]) / c(k) when that exceeds 1, and otherwise decodes one token, trying one draft every
16 declined opportunities so that a change (a repetitive file, a faster device) is noticed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from qwen_ls.engine.base import EngineError
from qwen_ls.engine.draft import Drafter, make_drafter

SpeculativeMode = Literal["auto", "prompt-lookup", "off"]

#: Moving-average weight of a new timing; verifications remembered for the acceptance estimate.
_EWMA = 0.2
_HISTORY = 64
#: In "auto", one exploratory draft after this many declined opportunities.
_EXPLORE_EVERY = 16


@dataclass
class SpecStats:
    """Counters since the engine was loaded (read them before and after a generation for one request)."""

    #: Target passes while generating (prefill excluded): one-token passes plus verification passes.
    passes: int = 0
    verify_passes: int = 0
    drafted: int = 0
    accepted: int = 0
    #: Tokens the target passes produced (one per plain pass, 1 + accepted per verification).
    produced: int = 0

    def tokens_per_pass(self) -> float:
        return self.produced / self.passes if self.passes else 0.0


class DraftPolicy:
    """How many draft tokens to verify in the next pass (see the module docstring for the rule)."""

    def __init__(self, mode: SpeculativeMode, draft_max: int) -> None:
        self.mode = mode
        self.draft_max = max(0, draft_max)
        #: seconds of a one-token pass (moving average), and extra cost per draft token in such passes
        self.t_one: float | None = None
        self.extra_per_draft: float | None = None
        self.accepted: deque[int] = deque(maxlen=_HISTORY)
        self._declined = 0

    def length(self, available: int) -> int:
        """The draft length to verify when the drafter can offer `available` tokens (0: do not draft)."""
        k_max = min(self.draft_max, available)
        if self.mode == "off" or k_max <= 0:
            return 0
        if self.mode == "prompt-lookup":
            return k_max
        if self.t_one is None:
            return 0  # measure a one-token pass first: costs are ratios to it
        if self.extra_per_draft is None or not self.accepted:
            return k_max  # nothing measured yet: try
        best_k, best_rate = 0, 1.0
        for k in range(1, k_max + 1):
            gain = 1.0 + sum(min(a, k) for a in self.accepted) / len(self.accepted)
            rate = gain / (1.0 + self.extra_per_draft * k)
            if rate > best_rate:
                best_k, best_rate = k, rate
        if best_k == 0:
            self._declined += 1
            if self._declined >= _EXPLORE_EVERY:
                self._declined = 0
                return 1
        return best_k

    def record_plain(self, seconds: float) -> None:
        self.t_one = seconds if self.t_one is None else (1 - _EWMA) * self.t_one + _EWMA * seconds

    def record_verify(self, k: int, accepted: int, seconds: float) -> None:
        # all k accepted only says A >= k: count it as k + 1 so that longer drafts keep being tried
        self.accepted.append(accepted + 1 if accepted == k else accepted)
        if self.t_one and k > 0:
            extra = max(0.0, (seconds / self.t_one - 1.0) / k)
            prev = self.extra_per_draft
            self.extra_per_draft = extra if prev is None else (1 - _EWMA) * prev + _EWMA * extra


class Speculation:
    """The drafter, the policy and the counters of one engine."""

    def __init__(self, mode: SpeculativeMode, draft_max: int, drafter: Drafter | None = None) -> None:
        self.mode: SpeculativeMode = mode
        self.drafter = drafter if drafter is not None else make_drafter(mode)
        self.policy = DraftPolicy(mode if self.drafter is not None else "off", draft_max)
        self.stats = SpecStats()

    def propose(self, context: Sequence[int], room: int) -> list[int]:
        """A draft to verify after the last token of `context`, at most `room` tokens (maybe none)."""
        if self.drafter is None or room <= 0:
            return []
        k = self.policy.length(room)
        return self.drafter.draft(context, k) if k > 0 else []

    def record(self, drafted: int, accepted: int, seconds: float) -> None:
        s = self.stats
        s.passes += 1
        s.produced += 1 + accepted
        if drafted:
            s.verify_passes += 1
            s.drafted += drafted
            s.accepted += accepted
            self.policy.record_verify(drafted, accepted, seconds)
        else:
            self.policy.record_plain(seconds)


def verify_draft(
    lib: Any,
    ctx: Any,
    mem: Any,
    batch: Any,
    n_vocab: int,
    cached: list[int],
    token: int,
    draft: Sequence[int],
) -> list[int]:
    """Evaluate `token` and `draft` in one pass at the end of the cache; return greedy's next tokens.

    The result is the accepted drafts followed by one more token (1 to len(draft) + 1 tokens). `cached`
    (the engine's list of the tokens in the KV cache) is extended by `token` and the accepted drafts, and
    the cells of rejected drafts are removed, so that both match plain greedy decoding afterwards.
    """
    seq = [token, *draft]
    pos0 = len(cached)
    batch.n_tokens = len(seq)
    for j, tok in enumerate(seq):
        batch.token[j] = tok
        batch.pos[j] = pos0 + j
        batch.n_seq_id[j] = 1
        batch.seq_id[j][0] = 0
        batch.logits[j] = 1
    rc = lib.llama_decode(ctx, batch)
    if rc != 0:
        lib.llama_memory_seq_rm(mem, 0, pos0, -1)
        raise EngineError(f"llama_decode failed ({rc})", "the context may be full; raise engine.nCtx")
    picks: list[int] = []
    for j in range(len(seq)):
        row = np.ctypeslib.as_array(lib.llama_get_logits_ith(ctx, j), shape=(n_vocab,))
        pick = int(np.argmax(row))
        picks.append(pick)
        if j == len(draft) or pick != draft[j]:
            break
    accepted = len(picks) - 1
    cached.extend(seq[: 1 + accepted])
    if accepted < len(draft):
        lib.llama_memory_seq_rm(mem, 0, pos0 + 1 + accepted, -1)
    return picks
