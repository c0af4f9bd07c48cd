"""Running repairs on the engine lane: the repair model (an Instruct GGUF, loaded on first use) or a
fill-in-the-middle rewrite with the completion model, chat templates, token budgets, cancellation.

No LSP types: the code-action glue passes a progress callback and awaits `RepairService.fix`. One
repair is one lane job (priority below completions), so it never overlaps a generation on the same
llama context; the cancel token is checked between prompt chunks and tokens.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qwen_ls import qwen
from qwen_ls.engine.base import CancelToken, Engine, EngineError, GenerationRequest, Tokenizer
from qwen_ls.repair.data import RepairResult
from qwen_ls.repair.pipeline import RepairPlan, RepairRequest, run_repair
from qwen_ls.repair.prompt import ChatMessage, build_chatml_prompt
from qwen_ls.repair.settings import RepairSettings
from qwen_ls.scheduler import PRIORITY_REPAIR, EngineLane

log = logging.getLogger(__name__)

_SPECIAL = re.compile(
    "(" + "|".join(re.escape(t) for t in sorted(qwen.SPECIAL_TEXTS, key=len, reverse=True)) + ")"
)

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
    out: list[int] = []
    for piece in _SPECIAL.split(text):
        if not piece:
            continue
        if _SPECIAL.fullmatch(piece):
            tid = tokenizer.special_id(piece)
            if tid is None:
                raise RepairFailed(
                    f"the model's vocabulary has no {piece} token: it is not a Qwen chat model"
                )
            out.append(tid)
        else:
            out.extend(tokenizer.tokenize(piece))
    return out


def stop_ids(tokenizer: Tokenizer) -> frozenset[int]:
    ids = (tokenizer.special_id(t) for t in qwen.STOP_TEXTS)
    return frozenset(i for i in ids if i is not None)


def fim_tokens(tokenizer: Tokenizer, prefix: str, suffix: str, budget: int) -> list[int]:
    """`<|fim_prefix|>prefix<|fim_suffix|>suffix<|fim_middle|>`, cut to `budget` tokens (prefix from the
    left, suffix from the right, keeping about 3:1)."""
    ids = [tokenizer.special_id(t) for t in (qwen.FIM_PREFIX, qwen.FIM_SUFFIX, qwen.FIM_MIDDLE)]
    if any(i is None for i in ids):
        raise RepairFailed("the completion model has no fill-in-the-middle tokens")
    pre, suf = tokenizer.tokenize(prefix), tokenizer.tokenize(suffix)
    room = max(budget - 3, 0)
    if len(pre) + len(suf) > room:
        keep_suf = min(len(suf), room // 4)
        keep_pre = min(len(pre), room - keep_suf)
        pre, suf = pre[len(pre) - keep_pre :], suf[:keep_suf]
    return [ids[0], *pre, ids[1], *suf, ids[2]]  # type: ignore[list-item]


@dataclass
class _Loaded:
    key: tuple[str, Any]
    engine: Engine


class RepairService:
    """Repairs for the code-action glue. `get_lane`/`get_completion_engine` are read at each call, so
    the service can be created before the server's services start."""

    def __init__(
        self,
        get_lane: Callable[[], EngineLane | None],
        get_completion_engine: Callable[[], Engine | None],
        load_engine: EngineLoader | None = None,
    ) -> None:
        self.get_lane = get_lane
        self.get_completion_engine = get_completion_engine
        self.load_engine = load_engine or _load_repair_engine
        self._loaded: _Loaded | None = None
        self.repairs = 0
        self.accepted = 0

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
        stops = stop_ids(engine.tokenizer)

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
        lane = self.get_lane()
        if lane is None:
            return RepairResult(False, "qwen-ls is still starting")
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

        self.repairs += 1
        job = lane.submit(job_fn, kind="repair", priority=PRIORITY_REPAIR)
        try:
            result = await job.future
        except asyncio.CancelledError:
            job.abort("request cancelled")
            raise
        if result is None:
            return RepairResult(False, f"cancelled ({job.cancel.reason})")
        if result.accepted:
            self.accepted += 1
        return result

    def close(self) -> None:
        if self._loaded is not None:
            self._loaded.engine.close()
            self._loaded = None


def _load_repair_engine(model: str, engine_settings: Any, cancel: CancelToken) -> Engine:
    """Resolve and load the Instruct GGUF with the same engine settings as completions."""
    from qwen_ls.engine.llama import LlamaEngine
    from qwen_ls.models import resolve_model, validate_model

    path = resolve_model(model, download=False, progress=None, cancel=cancel)
    validate_model(path)
    engine = LlamaEngine(path, engine_settings)
    if not engine.info.chat_template:
        log.warning("%s has no chat template; using ChatML", path)
    return engine
