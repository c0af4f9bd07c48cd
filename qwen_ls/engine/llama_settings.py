"""Settings of the embedded llama.cpp engine. Split out of `qwen_ls.engine.llama` (which re-exports
them)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from qwen_ls.engine.speculative import SpeculativeMode


@dataclass(frozen=True)
class EngineSettings:
    """Settings of the embedded engine (the `engine` section, minus the remote ones)."""

    #: Context window of the embedded engine in tokens (prompt + generated text).
    n_ctx: int = 4096
    #: Prefill chunk in tokens. A cancelled request stops in the middle of the chunk in progress on the
    #: CPU (llama.cpp's abort callback), at its end with GPU offload.
    n_batch: int = 256
    #: CPU threads for the embedded engine; 0 uses one per core (at most 8).
    threads: int = 0
    #: Layers offloaded to the GPU (-1: all) when llama-cpp-python was built with GPU support.
    gpu_layers: int = 0
    #: Flash attention in llama.cpp.
    flash_attention: Literal["auto", "on", "off"] = "auto"
    #: Reuse cached prompt chunks of at least this many tokens by shifting them (0: only the common prefix).
    cache_reuse: int = 32
    #: Speculative decoding of greedy completions (same output, fewer passes): "prompt-lookup" drafts
    #: from text the prompt already holds, "auto" drafts only while the measured gain is positive.
    speculative: SpeculativeMode = "auto"
    #: Most draft tokens verified in one pass (also capped by nBatch - 1).
    draft_max: int = 8

    def validate(self) -> list[str]:
        problems = []
        if self.speculative not in ("auto", "prompt-lookup", "off"):
            problems.append("speculative must be auto, prompt-lookup or off")
        if not 0 <= self.draft_max <= 32:
            problems.append("draftMax must be between 0 and 32")
        if self.n_ctx < 256:
            problems.append("nCtx must be at least 256")
        if self.n_batch < 8:
            problems.append("nBatch must be at least 8")
        if self.flash_attention not in ("auto", "on", "off"):
            problems.append("flashAttention must be auto, on or off")
        return problems


def default_threads() -> int:
    n = os.cpu_count() or 2
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    return max(1, min(n, 8))
