"""The held context: the keystroke path never re-ranks; a changed context is evaluated in idle time and
held only once evaluated; a refresh preempted by a keystroke puts the KV cache back."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from qwen_ls.context.types import ContextResult, Snippet
from qwen_ls.context_hold import IDLE_BATCH, HeldContext, idle_batches, refresh
from qwen_ls.engine.base import CancelToken, GenerationRequest
from tests.conftest import needs_llama

pytestmark = pytest.mark.timeout(120)


def _snippet(name: str, lines: int = 15) -> Snippet:
    text = "".join(f"def {name}_{i}(value):\n    return value * {i} + {len(name)}\n" for i in range(lines))
    return Snippet(f"pkg/{name}.py", 1, 2 * lines, text, "similar", 1.0, 2 * lines * 12)


class FakeContext:
    """A context engine whose ranking the test changes at will; counts its calls."""

    def __init__(self, snippets: tuple[Snippet, ...]) -> None:
        self.snippets = snippets
        self.calls = 0

    def retrieve(
        self, path: Path, text: str, offset: int, budget: int, window: tuple[int, int] | None = None
    ) -> ContextResult:
        self.calls += 1
        used = sum(s.tokens for s in self.snippets)
        return ContextResult(self.snippets, budget, used, True, 0.0)

    def relative_path(self, path: Path) -> str:
        return path.name


def test_keystrokes_get_the_held_selection_and_never_rerank(tmp_path: Path) -> None:
    inner = FakeContext((_snippet("a"), _snippet("b")))
    held = HeldContext(inner)
    path = tmp_path / "m.py"
    first = held.retrieve(path, "x = 1\n", 3, 5000)
    assert inner.calls == 1 and held.counters["first"] == 1
    inner.snippets = (_snippet("c"),)
    for i in range(5):
        r = held.retrieve(path, "x = 1\n" + "y" * i, 3 + i, 5000)
        assert r.snippets == first.snippets and not r.reranked
    assert inner.calls == 1 and held.counters["held"] == 5
    # a smaller budget drops trailing snippets (a shift for the KV cache, not a re-evaluation)
    r = held.retrieve(path, "x = 1\n", 3, first.snippets[0].tokens + 1)
    assert r.snippets == first.snippets[:1] and held.counters["trimmed"] == 1
    # fresh mode re-ranks without changing what is held
    with held.fresh():
        assert held.retrieve(path, "x = 1\n", 3, 5000).snippets == inner.snippets
    assert held.held(path) is not None and held.held(path).snippets == first.snippets[:1]  # type: ignore[union-attr]
    # everything else goes to the wrapped engine
    assert held.stats()["held"] == 6 and inner.calls == 2
    assert held.relative_path(path) == "m.py"


def test_idle_batches_swaps_the_chunk_size_and_puts_it_back() -> None:
    @dataclasses.dataclass(frozen=True)
    class S:
        n_batch: int = 256

    class E:
        settings = S()

    e = E()
    with idle_batches(e):
        assert e.settings.n_batch == IDLE_BATCH
    assert e.settings.n_batch == 256
    with idle_batches(object()):  # an engine without chunked prefill: nothing to do
        pass


class CancelAfter(CancelToken):
    """Cancels itself once the engine's cache has grown past `limit` tokens (a keystroke mid-refresh)."""

    __slots__ = ("at", "engine", "limit")

    def __init__(self, engine: object, limit: int) -> None:
        super().__init__()
        self.engine, self.limit, self.at = engine, limit, -1

    @property
    def cancelled(self) -> bool:
        n = len(self.engine._cached)  # type: ignore[attr-defined]
        if not self._event.is_set() and n >= self.limit:
            self.at = n
            self.cancel("preempted")
        return self._event.is_set()


@needs_llama
def test_a_changed_context_costs_the_keystroke_nothing(tiny_model: Path, tmp_path: Path) -> None:
    from qwen_ls.completion import CompletionPipeline, Snapshot
    from qwen_ls.engine.llama import EngineSettings, LlamaEngine

    engine = LlamaEngine(tiny_model, EngineSettings(n_ctx=4096, n_batch=256, cache_reuse=16))
    inner = FakeContext((_snippet("alpha"), _snippet("beta")))
    held = HeldContext(inner)
    pipeline = CompletionPipeline(engine, context=held)
    path = tmp_path / "main.py"
    text = "".join(f"line_{i} = {i}\n" for i in range(30)) + "result = \n" + "print(result)\n"
    offset = text.index("result = ") + len("result = ")

    def snap(extra: str = "") -> Snapshot:
        t = text[:offset] + extra + text[offset:]
        return Snapshot("file:///main.py", t, offset + len(extra), path=path, rel_path="main.py")

    def keystroke(extra: str) -> tuple[int, int, int]:
        prompt, _ = pipeline.build_prompt(snap(extra))
        r = engine.generate(GenerationRequest(prompt=prompt.tokens, max_tokens=0), CancelToken())
        return r.n_reused, r.n_evaluated, prompt.parts["context"]

    keystroke("")  # the first selection, made on the request path (nothing held yet)
    inner.snippets = (_snippet("gamma"), _snippet("alpha"))  # a re-rank would change the context
    reused, evaluated, ctx_tokens = keystroke("1")
    assert inner.calls == 1 and evaluated < 40  # still the held context: only the edit and the suffix

    # idle time: the new ranking is evaluated and held
    assert refresh(pipeline, held, snap("1"), CancelToken()) == "changed"
    assert held.counters["changesIdle"] == 1 and held.counters["tokensIdle"] > ctx_tokens // 2
    reused, evaluated, ctx_tokens = keystroke("1 ")
    assert reused > ctx_tokens and evaluated < 40

    # another change, preempted mid-way by a keystroke: the cache is put back as it was
    inner.snippets = (_snippet("delta"), _snippet("gamma"))
    before = engine.cached_tokens
    stop_at = len(before) - 200  # inside the new context's evaluation
    cancel = CancelAfter(engine, stop_at)
    assert refresh(pipeline, held, snap("1 "), cancel) == "abandoned"
    # it noticed within one idle chunk
    assert cancel.at != -1 and cancel.at - stop_at <= IDLE_BATCH
    assert engine.cached_tokens == before and held.counters["abandoned"] == 1
    reused, evaluated, ctx_tokens = keystroke("1 +")
    assert reused > ctx_tokens and evaluated < 40
    assert [s.path for s in held.held(path).snippets] == ["pkg/gamma.py", "pkg/alpha.py"]  # type: ignore[union-attr]
    engine.close()
