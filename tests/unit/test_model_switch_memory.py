"""A model switch gives the old model back at once (issue 15's soak: +25 MB kept after each switch).

The services are driven as the server drives them (`Lifecycle.apply`): context engine, model service,
completion service, with completions, prefetches and pre-warms in flight. After switching twice, both
old engines are gone by reference counting alone (the garbage collector is off while switching: jobs
that ran, their closures and the job <-> cancel-token cycle kept the old engine until a full collection),
and each old model was freed by `close()` itself, not left to whoever still holds its tokenizer.
"""

from __future__ import annotations

import asyncio
import gc
import shutil
import time
import weakref
from pathlib import Path
from typing import Any

import pytest

from qwen_ls.app import Services, build_services
from qwen_ls.completion import Snapshot
from qwen_ls.config import load_settings
from qwen_ls.engine.base import EngineError
from tests.conftest import needs_llama

pytestmark = pytest.mark.timeout(120)

SOURCE = (
    "import os\n\n\ndef hello(name):\n    return 'hi ' + name\n\n\n"
    "class A:\n    def f(self):\n        return "
)


class _Progress:
    def report(self, message: str, percentage: int | None = None) -> None:
        pass

    def end(self, message: str = "") -> None:
        pass


class _Channel:
    def send_status(self, state: str, model: str, message: str) -> None:
        pass

    def begin_progress(self, title: str) -> _Progress:
        return _Progress()


async def _apply(services: Services, model: Path, root: Path) -> None:
    """What `Lifecycle.apply` does on a settings change."""
    settings, _ = load_settings({"model": str(model), "completion": {"maxTokens": 8, "debounceMs": 0}})
    doc = root / "m.py"
    services.context.configure(settings.context, True, [root], [(doc, SOURCE, "python")])
    await services.models.ensure(settings)
    engine = services.completion_engine()
    if engine is not None:
        services.context.use_tokenizer(engine.tokenizer)
    services.completions.configure(settings, engine, services.context.engine)


async def _type(services: Services, root: Path) -> None:
    """Completions at a few places (answers, prefetches, context refreshes), then a pre-warm left queued."""
    doc = root / "m.py"
    for back in range(4):
        snap = Snapshot(
            uri=doc.as_uri(),
            text=SOURCE,
            offset=len(SOURCE) - 3 * back,
            language="python",
            path=doc,
            rel_path="m.py",
        )
        await services.completions.complete(snap)
        services.completions.prewarm(snap)
    assert services.models.ready


async def _lane_idle(services: Services) -> None:
    deadline = time.monotonic() + 20
    while services.lane.busy and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


@needs_llama
def test_switching_models_frees_the_old_ones_at_once(tiny_model: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.gguf"
    shutil.copyfile(tiny_model, other)  # another file: loaded as another model
    root = tmp_path / "ws"
    root.mkdir()
    (root / "m.py").write_text(SOURCE)
    old_engines: list[weakref.ref[Any]] = []
    old_models: list[Any] = []
    old_tokenizers: list[Any] = []

    async def scenario(services: Services) -> None:
        for model in (tiny_model, other, tiny_model):
            engine = services.models.engine
            if engine is not None:
                old_engines.append(weakref.ref(engine))
                old_models.append(engine._model)
                old_tokenizers.append(engine.tokenizer)
            del engine
            await _apply(services, model, root)
            await _type(services, root)
        await _lane_idle(services)

    services = build_services(_Channel())
    gc.collect()
    gc.disable()
    try:
        asyncio.run(scenario(services))
        alive = [i for i, ref in enumerate(old_engines) if ref() is not None]
    finally:
        gc.enable()
        services.close()
    assert len(old_engines) == 2
    assert alive == [], f"old engines {alive} still referenced after the switches (without a gc pass)"
    # close() freed each old model itself (the llama_model pointer), and its tokenizer says so
    assert [m.ptr for m in old_models] == [None, None]
    for tokenizer in old_tokenizers:
        with pytest.raises(EngineError):
            tokenizer.tokenize("def f():")


@needs_llama
def test_a_closed_engine_frees_its_model_after_a_tokenization_running_on_another_thread(
    tiny_model: Path,
) -> None:
    from qwen_ls.engine.llama import EngineSettings, LlamaEngine

    engine = LlamaEngine(tiny_model, EngineSettings(n_ctx=512))
    tokenizer, model = engine.tokenizer, engine._model
    with tokenizer._in_use():  # a call into llama.cpp in flight (as from the context index's thread)
        engine.close()
        assert model.ptr is not None  # not freed under the running call
    assert model.ptr is None  # freed by the call that ended last
    with pytest.raises(EngineError):
        tokenizer.tokenize("x = 1")
    engine.close()  # idempotent
