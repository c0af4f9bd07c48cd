"""Speculative decoding in the embedded engine: greedy output and cache identical with and without drafts.

Random weights never copy their prompt, so the prompt-lookup drafter alone would see its drafts
rejected. To exercise acceptance, partial acceptance, a stop token inside an accepted draft and a
cancellation inside one, an oracle drafter proposes the plain run's own output with some tokens
corrupted: whatever it proposes, the engine must produce exactly the plain run's tokens, text, stop
reason and KV bookkeeping.

The engine runs with two threads and flash attention off: llama.cpp's CPU flash attention splits a
one-token pass across threads and rounds differently from a batch (logits differ by up to ~0.7 on these
weights), so with it a near-tie may resolve differently in a verification pass than in a one-token pass,
exactly as it already may between a prefill and a one-token pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from qwen_ls.engine.base import CancelToken, GenerationRequest, GenerationResult
from qwen_ls.engine.draft import LookupSettings, PromptLookupDrafter
from qwen_ls.engine.speculative import Speculation
from tests.conftest import needs_llama

pytestmark = [needs_llama, pytest.mark.slow, pytest.mark.timeout(120)]

CODE = "".join(f"def function_{i}(argument):\n    return argument * {i}\n\n" for i in range(12))
TEXTS = [CODE, "import os\nimport sys\n\nimport os\nimport sys\n", "x = [1, 2, 3]\ny = [1, 2, 3]\nz = ["]


@pytest.fixture(scope="module")
def engine(tiny_model: Path):  # type: ignore[no-untyped-def]
    from qwen_ls.engine.llama import EngineSettings, LlamaEngine

    e = LlamaEngine(
        tiny_model,
        EngineSettings(
            n_ctx=2048, n_batch=64, cache_reuse=0, speculative="off", threads=2, flash_attention="off"
        ),
    )
    yield e
    e.close()


class OracleDrafter:
    """Proposes the reference output that follows the context, corrupting every `wrong_every`-th
    draft at position `wrong_at` (0: nothing accepted, 2: two accepted) so that drafts are rejected."""

    name = "oracle"

    def __init__(self, n_prompt: int, reference: Sequence[int], wrong_every: int = 3) -> None:
        self.n_prompt = n_prompt
        self.reference = list(reference)
        self.wrong_every = wrong_every
        self.calls = 0

    def draft(self, context: Sequence[int], k: int) -> list[int]:
        done = len(context) - self.n_prompt
        out = self.reference[done : done + k]
        self.calls += 1
        if self.wrong_every and self.calls % self.wrong_every == 0 and out:
            at = min(len(out) - 1, self.calls % 4)
            out[at] = 1000 + (out[at] + 1) % 5000  # an ordinary token other than the right one
        return out


def _prompt(engine, text: str) -> list[int]:  # type: ignore[no-untyped-def]
    fim = engine.info.fim_ids
    return [fim["prefix"], *engine.tokenizer.tokenize(text), fim["suffix"], fim["middle"]]


def _run(engine, spec: Speculation, request: GenerationRequest, on_text=None) -> GenerationResult:  # type: ignore[no-untyped-def]
    """One generation from an empty cache (both runs must see the same batches before generation)."""
    engine._lib.llama_memory_seq_rm(engine._mem, 0, -1, -1)
    engine._cached = []
    engine.speculation = spec
    cancel = CancelToken()
    return engine.generate(request, cancel, on_text(cancel) if on_text else None)


def _same(a: GenerationResult, b: GenerationResult) -> None:
    assert b.tokens == a.tokens
    assert b.text == a.text
    assert b.stop_reason == a.stop_reason
    assert b.n_generated == a.n_generated


def _plain(engine, request: GenerationRequest, on_text=None):  # type: ignore[no-untyped-def]
    result = _run(engine, Speculation("off", 0), request, on_text)
    return result, engine.cached_tokens


@pytest.mark.parametrize("text", TEXTS)
def test_oracle_drafts_give_the_plain_greedy_output(engine, text: str) -> None:  # type: ignore[no-untyped-def]
    prompt = _prompt(engine, text)
    request = GenerationRequest(prompt, max_tokens=28)
    plain, plain_cache = _plain(engine, request)
    assert plain.n_generated == 28
    spec = Speculation("prompt-lookup", 8, drafter=OracleDrafter(len(prompt), plain.tokens))
    drafted = _run(engine, spec, request)
    _same(plain, drafted)
    assert engine.cached_tokens == plain_cache
    s = spec.stats
    assert s.verify_passes > 0 and s.accepted > 0 and s.accepted < s.drafted  # accepted and rejected
    assert s.passes < plain.n_generated - 1  # fewer target passes than plain decoding's 27
    # the cache really holds what the bookkeeping says: a follow-up request reuses it correctly
    follow = GenerationRequest(prompt + drafted.tokens, max_tokens=6)
    engine.speculation = Speculation("off", 0)
    again = engine.generate(follow, CancelToken())
    assert again.n_reused == len(prompt) + len(drafted.tokens) - 1
    fresh = _run(engine, Speculation("off", 0), follow)
    assert again.tokens == fresh.tokens


def test_stop_token_inside_an_accepted_draft(engine) -> None:  # type: ignore[no-untyped-def]
    prompt = _prompt(engine, CODE)
    reference = _plain(engine, GenerationRequest(prompt, max_tokens=24))[0].tokens
    # a stop id at position m, inside the first draft (tokens 1..8 are the first draft; 9 the bonus)
    m = next(i for i in range(3, 8) if reference[i] not in reference[:i])
    request = GenerationRequest(prompt, max_tokens=24, stop_ids=frozenset({reference[m]}))
    plain, plain_cache = _plain(engine, request)
    assert plain.stop_reason == "stop" and plain.tokens == reference[:m]
    spec = Speculation("prompt-lookup", 8, drafter=OracleDrafter(len(prompt), reference, wrong_every=0))
    drafted = _run(engine, spec, request)
    _same(plain, drafted)
    assert engine.cached_tokens == plain_cache
    assert spec.stats.accepted >= m  # the stop token was an accepted draft token


@pytest.mark.parametrize("after", [2, 5, 11])
def test_cancel_and_callback_inside_a_draft(engine, after: int) -> None:  # type: ignore[no-untyped-def]
    prompt = _prompt(engine, CODE)
    reference = _plain(engine, GenerationRequest(prompt, max_tokens=30))[0].tokens

    def cancel_after(cancel: CancelToken):  # type: ignore[no-untyped-def]
        calls = [0]

        def on_text(_text: str) -> bool:
            calls[0] += 1
            if calls[0] >= after:
                cancel.cancel("superseded")
            return True

        return on_text

    def end_after(_cancel: CancelToken):  # type: ignore[no-untyped-def]
        calls = [0]

        def on_text(_text: str) -> bool:
            calls[0] += 1
            return calls[0] < after

        return on_text

    for make_callback, reason in ((cancel_after, "cancelled"), (end_after, "callback")):
        request = GenerationRequest(prompt, max_tokens=30)
        plain, plain_cache = _plain(engine, request, make_callback)
        assert plain.stop_reason == reason
        spec = Speculation("prompt-lookup", 8, drafter=OracleDrafter(len(prompt), reference))
        drafted = _run(engine, spec, request, make_callback)
        _same(plain, drafted)
        assert engine.cached_tokens == plain_cache
        assert spec.stats.verify_passes > 0


@pytest.mark.parametrize("max_tokens", [1, 2, 9, 10])
def test_max_tokens_caps_the_draft(engine, max_tokens: int) -> None:  # type: ignore[no-untyped-def]
    prompt = _prompt(engine, CODE)
    request = GenerationRequest(prompt, max_tokens=max_tokens)
    plain, plain_cache = _plain(engine, request)
    spec = Speculation("prompt-lookup", 8, drafter=OracleDrafter(len(prompt), plain.tokens, wrong_every=0))
    drafted = _run(engine, spec, request)
    _same(plain, drafted)
    assert engine.cached_tokens == plain_cache
    assert spec.stats.produced == max(0, max_tokens - 1)  # every pass produced a token that was used


class CountingDrafter(PromptLookupDrafter):
    def __init__(self, settings: LookupSettings) -> None:
        super().__init__(settings)
        self.calls = 0
        self.proposed = 0

    def draft(self, context: Sequence[int], k: int) -> list[int]:
        self.calls += 1
        out = super().draft(context, k)
        self.proposed += len(out)
        return out


def test_prompt_lookup_drafter_in_the_engine(engine) -> None:  # type: ignore[no-untyped-def]
    """The real drafter on repetitive prompts (unigram matches allowed): the output is the plain one.
    Random weights' output rarely repeats a token, so its drafts are few and rejected; the oracle tests
    above cover acceptance."""
    calls = 0
    for text in TEXTS:
        prompt = _prompt(engine, text)
        reference = _plain(engine, GenerationRequest(prompt, max_tokens=24))[0]
        request = GenerationRequest(_prompt(engine, text + reference.text + text), max_tokens=24)
        plain, plain_cache = _plain(engine, request)
        drafter = CountingDrafter(LookupSettings(n_min=1, n_max=3))
        spec = Speculation("prompt-lookup", 6, drafter=drafter)
        drafted = _run(engine, spec, request)
        _same(plain, drafted)
        assert engine.cached_tokens == plain_cache
        assert spec.stats.drafted == drafter.proposed
        calls += drafter.calls
    assert calls > 0


def test_sampling_never_drafts(engine) -> None:  # type: ignore[no-untyped-def]
    prompt = _prompt(engine, CODE)
    spec = Speculation("prompt-lookup", 8, drafter=OracleDrafter(len(prompt), list(range(100, 200))))
    _run(engine, spec, GenerationRequest(prompt, max_tokens=12, temperature=0.8))
    assert spec.stats.drafted == 0


def test_settings_validate() -> None:
    from qwen_ls.engine.llama import EngineSettings

    assert EngineSettings().speculative == "auto"
    assert EngineSettings(speculative="sometimes").validate()  # type: ignore[arg-type]
    assert EngineSettings(draft_max=99).validate()
    assert not EngineSettings(speculative="prompt-lookup", draft_max=4).validate()
