"""The in-process llama.cpp engine on a synthetic model: KV reuse, shifting, stops, cancel, detokenizing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from qwen_ls.engine.base import CancelToken, EngineError, GenerationRequest
from tests.conftest import needs_llama

pytestmark = [needs_llama, pytest.mark.slow]


@pytest.fixture(scope="module")
def engine(tiny_model: Path):  # type: ignore[no-untyped-def]
    from qwen_ls.engine.llama import EngineSettings, LlamaEngine

    e = LlamaEngine(tiny_model, EngineSettings(n_ctx=2048, n_batch=64, cache_reuse=16))
    yield e
    e.close()


def _prompt(engine, text: str) -> list[int]:  # type: ignore[no-untyped-def]
    fim = engine.info.fim_ids
    return [fim["prefix"], *engine.tokenizer.tokenize(text), fim["suffix"], fim["middle"]]


CODE = "".join(f"def function_{i}(argument):\n    return argument * {i}\n\n" for i in range(30))


def test_fim_ids_and_stop_set(engine) -> None:  # type: ignore[no-untyped-def]
    assert engine.info.fim_ids["prefix"] == 151659
    assert engine.info.fim_ids["file_sep"] == 151664
    # the whole Qwen stop set, including the three FIM ids llama.cpp's own EOG set lacks
    for tid in (151643, 151645, 151659, 151660, 151661, 151662, 151663, 151664):
        assert tid in engine.stop_ids


def test_greedy_generation_is_deterministic_and_reused(engine) -> None:  # type: ignore[no-untyped-def]
    prompt = _prompt(engine, CODE)
    a = engine.generate(GenerationRequest(prompt, max_tokens=8), CancelToken())
    b = engine.generate(GenerationRequest(prompt, max_tokens=8), CancelToken())
    assert a.tokens == b.tokens and a.n_generated == 8
    assert b.n_reused == len(prompt) - 1 and b.n_evaluated == 1  # only the last token, for its logits


def test_edit_re_evaluates_only_the_tokens_after_it(engine) -> None:  # type: ignore[no-untyped-def]
    first = _prompt(engine, CODE)
    engine.generate(GenerationRequest(first, max_tokens=4), CancelToken())
    edited = CODE.replace("function_25", "function_25x")
    second = _prompt(engine, edited)
    common = next(i for i, (x, y) in enumerate(zip(first, second, strict=False)) if x != y)
    r = engine.generate(GenerationRequest(second, max_tokens=4), CancelToken())
    assert r.n_reused == common
    assert r.n_evaluated == len(second) - common
    assert r.n_reused + r.n_shifted + r.n_evaluated == len(second)


@pytest.fixture(scope="module")
def one_layer_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """With one layer a token's K/V depend on nothing but the token and its position, so a shifted
    cache must reproduce a cold evaluation exactly. (With more layers, K/V of a kept chunk also carry
    what the removed text contributed: shift reuse is then llama-server's approximation.)"""
    import dataclasses

    from qwen_ls.bench import make_model

    make_model.SHAPES.setdefault("tiny-1layer", dataclasses.replace(make_model.SHAPES["tiny"], n_layer=1))
    path = tmp_path_factory.mktemp("one-layer") / "one-layer.gguf"
    make_model.write_model(path, "tiny-1layer")
    return path


def test_shifted_cache_gives_the_same_next_token_as_a_cold_run(one_layer_model: Path) -> None:
    from qwen_ls.engine.llama import EngineSettings, LlamaEngine

    settings = dict(n_ctx=2048, n_batch=64, flash_attention="off")
    warm = LlamaEngine(one_layer_model, EngineSettings(cache_reuse=16, **settings))  # type: ignore[arg-type]
    cold = LlamaEngine(one_layer_model, EngineSettings(cache_reuse=0, **settings))  # type: ignore[arg-type]
    try:
        heads = ("# a snippet that drops out\n" * 6, "import os\nimport sys\n" * 9, "x = 1\n" * 20)
        for k, head in enumerate(heads):
            body = CODE.replace("argument", f"arg{k}")
            warm.generate(GenerationRequest(_prompt(warm, head + body), max_tokens=1), CancelToken())
            # the head dropped out: the body's KV entries are shifted left instead of re-evaluated
            p2 = _prompt(warm, body + f"# tail {k}")
            r_warm = warm.generate(GenerationRequest(p2, max_tokens=4), CancelToken())
            cold.generate(GenerationRequest([1, 2, 3], max_tokens=1), CancelToken())  # a cold cache
            r_cold = cold.generate(GenerationRequest(p2, max_tokens=4), CancelToken())
            assert r_warm.n_shifted > len(p2) // 2
            assert r_warm.n_evaluated < len(p2) // 4
            assert r_cold.n_shifted == 0 and r_cold.n_evaluated == len(p2)
            assert r_warm.tokens == r_cold.tokens
    finally:
        warm.close()
        cold.close()


def test_callback_stops_generation(engine) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def on_text(text: str) -> bool:
        seen.append(text)
        return len(seen) < 3

    r = engine.generate(GenerationRequest(_prompt(engine, CODE), max_tokens=30), CancelToken(), on_text)
    assert r.stop_reason == "callback"
    assert r.n_generated <= 4


def test_cancel_stops_within_one_token(engine) -> None:  # type: ignore[no-untyped-def]
    cancel = CancelToken()

    def on_text(text: str) -> bool:
        cancel.cancel("superseded")
        return True

    r = engine.generate(GenerationRequest(_prompt(engine, CODE + "x"), max_tokens=50), cancel, on_text)
    assert r.stop_reason == "cancelled"
    assert r.n_generated == 1


def test_cancel_during_prefill_keeps_the_cache_consistent(engine) -> None:  # type: ignore[no-untyped-def]
    long_text = CODE * 2
    cancel = CancelToken()
    timer = threading.Timer(0.0, cancel.cancel)
    timer.start()
    timer.join()
    r = engine.generate(GenerationRequest(_prompt(engine, long_text), max_tokens=5), cancel)
    assert r.stop_reason == "cancelled"
    # the next request reuses whatever was evaluated and still answers correctly
    again = engine.generate(GenerationRequest(_prompt(engine, long_text), max_tokens=3), CancelToken())
    assert again.n_generated == 3
    assert again.n_reused + again.n_shifted + again.n_evaluated == again.n_prompt


def test_a_passed_deadline_cuts_the_prefill_unless_generation_has_its_time(engine) -> None:  # type: ignore[no-untyped-def]
    passed = time.monotonic() - 1.0
    cold = _prompt(engine, CODE.replace("argument", "value"))  # not in the cache: several 64-token chunks
    cut = engine.generate(GenerationRequest(cold, max_tokens=4, deadline=passed), CancelToken())
    assert cut.stop_reason == "deadline" and cut.n_generated == 0
    assert 0 < cut.n_evaluated < len(cold) - cut.n_reused  # stopped between chunks
    # With `generate_s` the whole prompt is evaluated (what the cut request evaluated is reused) and the
    # generation gets its seconds after it, past the deadline.
    late = engine.generate(
        GenerationRequest(cold, max_tokens=4, deadline=time.monotonic() - 1.0, generate_s=60.0), CancelToken()
    )
    assert late.stop_reason == "length" and late.n_generated == 4
    assert late.n_reused >= cut.n_reused + cut.n_evaluated
    # generate_s bounds the generation: none left means the first token and no more
    short = engine.generate(
        GenerationRequest(
            cold[:-3] + cold[-3:], max_tokens=8, deadline=time.monotonic() - 1.0, generate_s=0.0
        ),
        CancelToken(),
    )
    assert short.stop_reason == "deadline" and short.n_generated == 1


def test_prefill_only_request_keeps_the_logits_for_the_generation_after_it(engine) -> None:  # type: ignore[no-untyped-def]
    prompt = _prompt(engine, CODE + "# warm")
    r = engine.generate(GenerationRequest(prompt, max_tokens=0), CancelToken())
    assert r.n_generated == 0 and r.n_reused + r.n_evaluated == len(prompt)
    # the hold prefill, then generation: no pass of its own before the first token
    kept = engine.generate(GenerationRequest(prompt, max_tokens=6), CancelToken())
    assert kept.n_evaluated == 0 and kept.n_reused == len(prompt)
    # the same tokens as when the last prompt token is evaluated again for its logits
    again = engine.generate(GenerationRequest(prompt, max_tokens=6), CancelToken())
    assert again.n_evaluated == 1
    assert kept.tokens == again.tokens and kept.n_generated == 6


def test_logits_are_not_kept_across_a_decode_or_a_cache_change(engine) -> None:  # type: ignore[no-untyped-def]
    prompt = _prompt(engine, CODE + "# kept")
    other = _prompt(engine, CODE + "# other")
    engine.generate(GenerationRequest(prompt, max_tokens=0), CancelToken())
    engine.generate(GenerationRequest(other, max_tokens=0), CancelToken())  # another prompt's pass
    back = engine.generate(GenerationRequest(prompt, max_tokens=0), CancelToken())  # cache edited back
    assert back.n_evaluated > 0
    longer = prompt + engine.tokenizer.tokenize(" more")
    engine.generate(GenerationRequest(longer, max_tokens=0), CancelToken())
    # the prompt is a prefix of the cache now: its last token's logits are not the output's
    r = engine.generate(GenerationRequest(prompt, max_tokens=2), CancelToken())
    assert r.n_evaluated == 1


class _CancelledOnceArmed(CancelToken):
    """Cancelled from another thread the moment the engine arms its abort switch for a decode."""

    __slots__ = ()

    def on_cancel(self, hook):  # type: ignore[no-untyped-def]
        super().on_cancel(hook)
        if hook is not None and not self.cancelled:
            t = threading.Thread(target=self.cancel)
            t.start()
            t.join()


@pytest.mark.parametrize("cancelled", ["before", "while-armed"])
def test_a_cancel_stops_a_prefill_chunk_inside_its_pass(tiny_model: Path, cancelled: str) -> None:
    from qwen_ls.engine.llama import EngineSettings, LlamaEngine

    e = LlamaEngine(tiny_model, EngineSettings(n_ctx=2048, n_batch=512))
    try:
        base = _prompt(e, CODE)
        e.generate(GenerationRequest(base[:40], max_tokens=0), CancelToken())
        # one chunk of about 450 tokens: the engine's own checks come only between chunks
        cancel = CancelToken() if cancelled == "before" else _CancelledOnceArmed()
        if cancelled == "before":
            cancel.cancel()
        r = e.generate(GenerationRequest(base, max_tokens=4), cancel)
        assert r.stop_reason == "cancelled" and r.n_evaluated == 0  # llama.cpp stopped the pass
        # the cache is as before the chunk, in llama.cpp and in the engine's book-keeping
        assert len(e._cached) == 40
        assert e._lib.llama_memory_seq_pos_max(e._mem, 0) == 39
        done = e.generate(GenerationRequest(base, max_tokens=3), CancelToken())
        assert done.n_reused == 40 and done.n_evaluated == len(base) - 40 and done.n_generated == 3
    finally:
        e.close()


def test_an_aborted_decode_is_not_logged_as_an_error(engine, caplog) -> None:  # type: ignore[no-untyped-def]
    cancel = CancelToken()
    cancel.cancel()
    with caplog.at_level("DEBUG", logger="llama.cpp"):
        r = engine.generate(GenerationRequest(_prompt(engine, CODE + "# aborted"), max_tokens=2), cancel)
    assert r.stop_reason == "cancelled"
    assert any("ret = 2" in rec.getMessage() for rec in caplog.records)  # llama.cpp did say it
    assert not [rec for rec in caplog.records if rec.levelno >= 30]


def test_detokenize_long_tokens_and_utf8(engine) -> None:  # type: ignore[no-untyped-def]
    tok = engine.tokenizer
    for text in ("    " * 20 + "x", "//" + "-" * 70, "héllo wörld ✓ 你好 🎉", 'print("ünïcödé")'):
        assert tok.detokenize(tok.tokenize(text)) == text
    # special-token text is tokenized as text, never as the special id
    assert 151659 not in tok.tokenize("<|fim_prefix|>")


def test_prompt_larger_than_context(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EngineError):
        engine.generate(GenerationRequest(list(range(100, 100 + 3000)), max_tokens=1), CancelToken())


def test_fimless_model_is_refused(fimless_model: Path) -> None:
    from qwen_ls.engine.llama import LlamaEngine

    with pytest.raises(EngineError, match="FIM"):
        LlamaEngine(fimless_model)
