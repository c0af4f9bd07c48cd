"""Running repairs on the engine lane: the repair model (an Instruct GGUF, loaded on first use) or a
fill-in-the-middle rewrite with the completion model, chat templates, token budgets, cancellation.

No LSP types: the code-action glue passes a progress callback and awaits `RepairService.fix`. One
repair is one lane job (priority below completions), so it never overlaps a generation on the same
llama context; the cancel token is checked between prompt chunks and tokens.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qwen_ls import qwen
from qwen_ls.engine.base import CancelToken, Engine, EngineError, GenerationRequest, Tokenizer
from qwen_ls.prompt import fim_rewrite
from qwen_ls.repair.data import RepairResult
from qwen_ls.repair.pipeline import RepairPlan, RepairRequest, run_repair
from qwen_ls.repair.prompt import ChatMessage, build_chatml_prompt
from qwen_ls.repair.settings import RepairSettings
from qwen_ls.scheduler import PRIORITY_REPAIR, EngineLane

log = logging.getLogger(__name__)

#: (model name or path, engine settings) -> a loaded engine; runs on the lane.
EngineLoader = Callable[[str, Any, CancelToken], Engine]
Report = Callable[[str], None]


class RepairFailed(Exception):
    """A repair that cannot run (no model, a prompt too long, a deadline): the message is for the user."""


def render_chat(template: str | None, messages: Sequence[ChatMessage]) -> str:
    """The prompt text from the GGUF's own chat template (Jinja, sandboxed), or plain ChatML."""
    if template:
        try:
            from jinja2.exceptions import TemplateError
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            def raise_exception(message: str) -> None:
                raise TemplateError(message)

            env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            env.globals["raise_exception"] = raise_exception
            return env.from_string(template).render(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                add_generation_prompt=True,
                bos_token="",
                eos_token=qwen.ENDOFTEXT,
                tools=None,
            )
        except Exception as exc:  # a template we cannot render: ChatML is what Qwen models expect
            log.warning("chat template failed (%s); using ChatML", exc)
    return build_chatml_prompt(messages)


def encode(tokenizer: Tokenizer, text: str) -> list[int]:
    """Token ids of prompt text whose special-token texts become their ids (never split into bytes)."""
    try:
        return qwen.encode_with_specials(text, tokenizer.tokenize, tokenizer.special_id)
    except qwen.MissingSpecialToken as exc:
        raise RepairFailed(f"{exc}: it is not a Qwen chat model") from None


def fim_tokens(tokenizer: Tokenizer, prefix: str, suffix: str, budget: int) -> list[int]:
    """The completion model's FIM prompt for a rewrite (the prompt module's file-level form)."""
    try:
        return fim_rewrite(tokenizer, prefix, suffix, budget)
    except EngineError:
        raise RepairFailed("the completion model has no fill-in-the-middle tokens") from None


@dataclass
class _Loaded:
    key: tuple[str, Any]
    engine: Engine


class RepairService:
    """Repairs for the code-action glue, run on `lane`. `completion_engine` is asked at each repair
    (the completion model writes FIM rewrites when no repair model is set); `load_engine` loads the
    repair model (the shared GGUF loader unless a test gives another)."""

    def __init__(
        self,
        lane: EngineLane,
        completion_engine: Callable[[], Engine | None],
        load_engine: EngineLoader | None = None,
    ) -> None:
        self.lane = lane
        self.get_completion_engine = completion_engine
        self.load_engine = load_engine or _load_repair_engine
        self._loaded: _Loaded | None = None

    # -- runs on the lane --------------------------------------------------------------------------

    def _engine_for(
        self, settings: RepairSettings, engine_settings: Any, report: Report, cancel: CancelToken
    ) -> Engine:
        if settings.model:
            key = (settings.model, engine_settings)
            if self._loaded is None or self._loaded.key != key:
                if self._loaded is not None:
                    self._loaded.engine.close()
                    self._loaded = None
                report(f"loading the repair model {settings.model}")
                t0 = time.perf_counter()
                loaded = self.load_engine(settings.model, engine_settings, cancel)
                log.info("repair model %s loaded in %.2fs", settings.model, time.perf_counter() - t0)
                self._loaded = _Loaded(key, loaded)
            return self._loaded.engine
        completion = self.get_completion_engine()
        if completion is None:
            raise RepairFailed("no model is loaded (set `repair.model` to an Instruct GGUF, or `model`)")
        return completion

    def _run(
        self,
        request: RepairRequest,
        settings: RepairSettings,
        engine_settings: Any,
        report: Report,
        cancel: CancelToken,
    ) -> RepairResult:
        engine = self._engine_for(settings, engine_settings, report, cancel)
        fim = not settings.model
        deadline = time.monotonic() + settings.timeout_s
        stops = qwen.stop_ids(engine.tokenizer.special_id)

        def generate(
            messages: Sequence[ChatMessage] | None, temperature: float, plan: RepairPlan
        ) -> tuple[str, bool]:
            if messages is not None:
                prompt = encode(engine.tokenizer, render_chat(engine.info.chat_template, messages))
            else:
                prompt = fim_tokens(
                    engine.tokenizer, plan.fim.prefix, plan.fim.suffix, engine.n_ctx - plan.max_tokens
                )
            if len(prompt) + plan.max_tokens > engine.n_ctx:
                raise RepairFailed(
                    f"the prompt ({len(prompt)} tokens) and the answer ({plan.max_tokens}) do not fit the "
                    f"model's context ({engine.n_ctx}); lower repair.surroundingLines or raise engine.nCtx"
                )
            report(f"writing a fix for lines {plan.region.start_line + 1}-{plan.region.end_line + 1}")
            result = engine.generate(
                GenerationRequest(
                    prompt=prompt,
                    max_tokens=plan.max_tokens,
                    stop_ids=stops,
                    deadline=deadline,
                    temperature=temperature,
                    kind="repair",
                ),
                cancel,
            )
            log.debug(
                "repair generation: %d prompt tokens, %d generated, %s, %.2fs",
                result.n_prompt,
                result.n_generated,
                result.stop_reason,
                result.t_total,
            )
            if result.stop_reason == "deadline":
                raise RepairFailed(f"the model took longer than repair.timeoutS ({settings.timeout_s:g} s)")
            if result.stop_reason == "error":
                raise RepairFailed("the model failed while writing the fix (see the log)")
            report("checking the fix")
            return result.text, result.stop_reason == "length"

        return run_repair(request, settings, generate, fim=fim, is_cancelled=lambda: cancel.cancelled)

    # -- event loop --------------------------------------------------------------------------------

    async def fix(
        self,
        request: RepairRequest,
        settings: RepairSettings,
        engine_settings: Any = None,
        report: Report | None = None,
    ) -> RepairResult:
        """Write and verify a fix. Cancelling the awaiting task cancels the generation."""
        lane = self.lane
        loop = asyncio.get_running_loop()

        def report_threadsafe(message: str) -> None:
            if report is not None:
                loop.call_soon_threadsafe(report, message)

        def job_fn(cancel: CancelToken) -> RepairResult:
            try:
                return self._run(request, settings, engine_settings, report_threadsafe, cancel)
            except RepairFailed as exc:
                return RepairResult(False, str(exc))
            except EngineError as exc:
                return RepairResult(False, str(exc))
            except Exception as exc:  # ModelError and anything unexpected: one clear message, logged
                log.exception("repair failed")
                return RepairResult(False, f"the repair failed: {exc}")

        job = lane.submit(job_fn, kind="repair", priority=PRIORITY_REPAIR, restartable=True)
        try:
            result = await job.future
        except asyncio.CancelledError:
            job.abort("request cancelled")
            raise
        if result is None:
            return RepairResult(False, f"cancelled ({job.cancel.reason})")
        return result

    def close(self) -> None:
        if self._loaded is not None:
            self._loaded.engine.close()
            self._loaded = None


def _load_repair_engine(model: str, engine_settings: Any, cancel: CancelToken) -> Engine:
    """Resolve and load the Instruct GGUF with the same engine settings as completions."""
    from qwen_ls.models.load import load_llama_engine

    engine = load_llama_engine(model, engine_settings, cancel=cancel)
    if not engine.info.chat_template:
        log.warning("%s has no chat template; using ChatML", engine.info.path)
    return engine
