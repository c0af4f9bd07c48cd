"""The repair service on the engine lane: with a scripted engine (prompt mechanics, cancellation, loader
errors) and with the real llama.cpp engine and synthetic models (loading, the GGUF's chat template,
rejection of an unverified candidate with a reason)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from qwen_ls import qwen
from qwen_ls.engine.base import CancelToken, EngineError, GenerationRequest, GenerationResult, ModelInfo
from qwen_ls.repair import Diagnostic, RepairRequest, RepairSettings
from qwen_ls.repair.prompt import ChatMessage
from qwen_ls.repair.service import RepairService, encode, fim_tokens, render_chat
from qwen_ls.scheduler import EngineLane
from tests.conftest import needs_llama
from tests.helpers import FakeTokenizer

TEXT = "def mean(xs):\n    if not xs\n        return 0.0\n    return sum(xs) / len(xs)\n"
DIAG = Diagnostic(1, 4, 1, 13, "expected ':'", None, "Python", 1)
GOOD = "```python\n    if not xs:\n        return 0.0\n```"
TIGHT = RepairSettings(model="scripted", context_lines=0)


class Scripted:
    def __init__(self, answer: str, block: threading.Event | None = None) -> None:
        self.answer = answer
        self.prompts: list[list[int]] = []
        self.requests: list[GenerationRequest] = []
        self.block = block
        self._tokenizer = FakeTokenizer()

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(path="x.gguf", name="scripted", chat_template=None)

    @property
    def tokenizer(self) -> FakeTokenizer:
        return self._tokenizer

    @property
    def n_ctx(self) -> int:
        return 8192

    def generate(
        self, request: GenerationRequest, cancel: CancelToken, on_text: object = None
    ) -> GenerationResult:
        self.prompts.append(list(request.prompt))
        self.requests.append(request)
        if self.block is not None:
            while not cancel.cancelled:
                self.block.wait(0.01)
            return GenerationResult(stop_reason="cancelled")
        return GenerationResult(text=self.answer, stop_reason="stop")

    def close(self) -> None:
        pass


def _service(engine: Scripted, lane: EngineLane) -> RepairService:
    return RepairService(lane, lambda: engine, load_engine=lambda model, settings, cancel: engine)


def test_render_chat_uses_the_template_or_chatml() -> None:
    messages = [ChatMessage("system", "S"), ChatMessage("user", "U")]
    plain = render_chat(None, messages)
    assert plain == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
    template = (
        "{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}"
        "{% if add_generation_prompt %}>{% endif %}"
    )
    assert render_chat(template, messages) == "[system:S][user:U]>"
    assert render_chat("{{ raise_exception('no') }}", messages) == plain  # a failing template falls back


def test_encode_keeps_special_tokens_whole_and_fim_budget() -> None:
    tok = FakeTokenizer()
    ids = encode(tok, f"{qwen.IM_START}user\nhi{qwen.IM_END}")
    assert ids[0] == qwen.SPECIAL_IDS[qwen.IM_START] and ids[-1] == qwen.SPECIAL_IDS[qwen.IM_END]
    fim = fim_tokens(tok, "a " * 100, "b " * 100, budget=43)
    assert len(fim) <= 43
    assert fim[0] == qwen.SPECIAL_IDS[qwen.FIM_PREFIX] and fim[-1] == qwen.SPECIAL_IDS[qwen.FIM_MIDDLE]


async def test_instruct_repair_on_the_lane() -> None:
    lane = EngineLane()
    try:
        engine = Scripted(GOOD)
        reports: list[str] = []
        result = await _service(engine, lane).fix(
            RepairRequest(TEXT, "python", (DIAG,)), TIGHT, None, reports.append
        )
        assert result.accepted, result.reason
        assert engine.requests[0].kind == "repair" and engine.requests[0].temperature == 0.0
        assert qwen.SPECIAL_IDS[qwen.IM_END] in engine.requests[0].stop_ids
        assert engine.prompts[0][0] == qwen.SPECIAL_IDS[qwen.IM_START]
        await asyncio.sleep(0.05)
        assert any("writing a fix" in r for r in reports) and any(
            "loading the repair model" in r for r in reports
        )
    finally:
        lane.close()


async def test_fim_rewrite_with_the_completion_model() -> None:
    lane = EngineLane()
    try:
        engine = Scripted("    if not xs:\n        return 0.0\n")
        service = RepairService(lane, lambda: engine)
        result = await service.fix(RepairRequest(TEXT, "python", (DIAG,)), RepairSettings(context_lines=0))
        assert result.accepted, result.reason
        assert engine.prompts[0][0] == qwen.SPECIAL_IDS[qwen.FIM_PREFIX]
        none = RepairService(lane, lambda: None)
        result = await none.fix(RepairRequest(TEXT, "python", (DIAG,)), RepairSettings())
        assert not result.accepted and "no model is loaded" in result.reason
    finally:
        lane.close()


async def test_cancelling_the_waiter_cancels_the_generation() -> None:
    lane = EngineLane()
    try:
        block = threading.Event()
        engine = Scripted(GOOD, block=block)
        task = asyncio.ensure_future(
            _service(engine, lane).fix(RepairRequest(TEXT, "python", (DIAG,)), TIGHT)
        )
        for _ in range(200):
            if engine.prompts:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the worker noticed the token and the lane takes new work
        job = lane.submit(lambda cancel: 42, kind="probe", priority=1)
        assert await asyncio.wait_for(job.future, 5) == 42
    finally:
        lane.close()


async def test_loader_errors_become_reasons() -> None:
    lane = EngineLane()

    def broken(model: str, settings: object, cancel: CancelToken) -> Scripted:
        raise EngineError("model file not found: x.gguf", "check the path")

    try:
        service = RepairService(lane, lambda: None, load_engine=broken)
        result = await service.fix(RepairRequest(TEXT, "python", (DIAG,)), TIGHT)
        assert not result.accepted and "model file not found" in result.reason
    finally:
        lane.close()


def _first(seq: Sequence[str], needle: str) -> bool:
    return any(needle in s for s in seq)


@needs_llama
@pytest.mark.slow
async def test_real_engine_with_a_synthetic_instruct_model(tiny_instruct_model: Path) -> None:
    """Loading on first use, the GGUF's chat template, and a random-weight answer rejected with a reason."""
    from qwen_ls.engine.llama import EngineSettings

    lane = EngineLane()
    service = RepairService(lane, lambda: None)
    try:
        settings = RepairSettings(model=str(tiny_instruct_model), context_lines=0, max_tokens=48)
        reports: list[str] = []
        result = await service.fix(
            RepairRequest(TEXT, "python", (DIAG,)),
            settings,
            EngineSettings(n_ctx=2048, threads=2),
            reports.append,
        )
        assert not result.accepted
        assert result.reason  # noise never passes verification, and the user is told why
        loaded = service._loaded
        assert loaded is not None
        template = loaded.engine.info.chat_template
        assert template and "<|im_start|>" in template
        text = render_chat(template, [ChatMessage("system", "S"), ChatMessage("user", "U")])
        assert text.endswith("<|im_start|>assistant\n") and "<|im_start|>system\nS<|im_end|>" in text
        ids = encode(loaded.engine.tokenizer, text)
        assert ids.count(qwen.SPECIAL_IDS[qwen.IM_START]) == 3
        await asyncio.sleep(0.05)
        assert _first(reports, "loading the repair model")
        # the second repair reuses the loaded engine
        await service.fix(
            RepairRequest(TEXT, "python", (DIAG,)), settings, EngineSettings(n_ctx=2048, threads=2)
        )
        assert service._loaded is loaded
    finally:
        service.close()
        lane.close()
