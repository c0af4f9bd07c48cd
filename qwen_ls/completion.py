"""One completion from a document snapshot: prompt, engine, post-processing. No LSP types here.

The server and `qwen-ls complete` run the same `CompletionPipeline`, so what a user sees on the command
line is what the editor gets. `run` executes on the engine worker thread (it tokenizes, retrieves
context and generates); everything it returns is plain data.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qwen_ls.engine.base import CancelToken, Engine, GenerationRequest, GenerationResult
from qwen_ls.postprocess import CompletionContext, Processed, StreamStopper, decide_mode
from qwen_ls.prompt import (
    ContextPiece,
    Prompt,
    PromptSettings,
    SpecialIds,
    assemble,
    budgets,
    build_window,
    context_budget,
)

if TYPE_CHECKING:
    from qwen_ls.context import ContextEngine, ContextResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """A document at one version with the cursor in it."""

    uri: str
    text: str
    #: cursor as an offset into `text` (Python str index)
    offset: int
    version: int | None = None
    language: str | None = None
    #: absolute file path, None for untitled buffers
    path: Path | None = None
    #: workspace-relative POSIX path as the prompt names the file
    rel_path: str = "untitled"
    repo_name: str = "workspace"
    #: explicitly invoked by the user (no debounce, no typed-ahead shortcut)
    invoked: bool = False


@dataclass
class Outcome:
    """What came of one completion request."""

    text: str = ""
    #: characters after the cursor that the completion's range covers
    replace_end: int = 0
    #: "shown", "empty:<why>", "cancelled", "superseded", "error", "cache"
    outcome: str = ""
    multiline: bool = False
    prompt_tokens: int = 0
    context_tokens: int = 0
    generation: GenerationResult | None = None
    prompt: Prompt | None = None
    context: ContextResult | None = None
    t_prepare: float = 0.0
    t_total: float = 0.0
    raw: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineSettings:
    prompt: PromptSettings = field(default_factory=PromptSettings)
    mode: str = "auto"
    max_lines: int = 0
    syntax_aware: bool = True
    max_tokens: int = 64
    min_tokens: int = 0
    #: most tokens when one line is wanted (generation stops at the newline anyway)
    max_tokens_single: int = 48
    deadline_ms: int = 0


class CompletionPipeline:
    """Builds prompts for one engine and turns raw generations into completions."""

    def __init__(
        self,
        engine: Engine,
        settings: PipelineSettings | None = None,
        context: ContextEngine | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings or PipelineSettings()
        self.context = context
        self.ids = SpecialIds.from_tokenizer(engine.tokenizer)
        #: per-document prefix window start line (kept while it fits, for KV reuse); cleaned on close
        self._hints: dict[str, int] = {}
        #: an upper bound on the suffix budget chosen from measured speed (None: settings only)
        self.suffix_cap: int | None = None
        #: the last prompt built (`qwen.lastPrompt`)
        self.last_prompt: Prompt | None = None

    def forget(self, uri: str) -> None:
        self._hints.pop(uri, None)

    def build_prompt(self, snap: Snapshot) -> tuple[Prompt, ContextResult | None]:
        tok = self.engine.tokenizer
        ps = self.settings.prompt
        prefix_budget, suffix_budget = budgets(ps, self.suffix_cap)
        # the prompt must leave room for generation in the context window
        room = self.engine.n_ctx - self.settings.max_tokens - 8
        if ps.max_prompt_tokens > room:
            ps = PromptSettings(
                max_prompt_tokens=max(64, room),
                prefix_tokens=ps.prefix_tokens,
                suffix_tokens=ps.suffix_tokens,
                context_tokens=ps.context_tokens,
            )
            prefix_budget, suffix_budget = budgets(ps, self.suffix_cap)
        window = build_window(
            tok, snap.text, snap.offset, prefix_budget, suffix_budget, self._hints.get(snap.uri)
        )
        self._hints[snap.uri] = window.start_line
        pieces: list[ContextPiece] = []
        ctx_result = None
        if self.context is not None and snap.path is not None and ps.context_tokens > 0:
            budget = context_budget(ps, tok, self.ids, snap.repo_name, snap.rel_path, window)
            if budget > 0:
                try:
                    ctx_result = self.context.retrieve(
                        snap.path, snap.text, snap.offset, budget, (window.start, window.end)
                    )
                    pieces = [ContextPiece(s.path, s.text) for s in ctx_result.snippets]
                except Exception:  # context is an extra: it may fail without failing the completion
                    log.exception("context retrieval failed for %s", snap.uri)
        prompt = assemble(
            tok, self.ids, repo_name=snap.repo_name, path=snap.rel_path, window=window, context=pieces
        )
        self.last_prompt = prompt
        return prompt, ctx_result

    def completion_context(self, snap: Snapshot) -> CompletionContext:
        mode = self.settings.mode if self.settings.mode in ("auto", "single", "multi") else "auto"
        return CompletionContext(
            prefix=snap.text[: snap.offset],
            suffix=snap.text[snap.offset :],
            language=snap.language,
            mode=mode,  # type: ignore[arg-type]
            max_lines=self.settings.max_lines,
            syntax_aware=self.settings.syntax_aware,
        )

    def run(
        self,
        snap: Snapshot,
        cancel: CancelToken,
        on_partial: Callable[[str], None] | None = None,
        *,
        deadline: float | None = None,
        max_tokens: int | None = None,
        kind: str = "completion",
        on_ready: Callable[[Outcome], None] | None = None,
        continue_tokens: int = 0,
    ) -> Outcome:
        """Generate and post-process one completion.

        With `on_ready`, the completion is handed over the moment post-processing says it is complete,
        and generation goes on for up to `continue_tokens` more: the model's own continuation after the
        completion is what follows accepting it (the after-accept prefetch, with no prefill of its own).
        It comes back in `extra["continuation"]` as (prefix, suffix, Processed) for that position.
        """
        t0 = time.perf_counter()
        out = Outcome()
        prompt, ctx_result = self.build_prompt(snap)
        out.prompt, out.context = prompt, ctx_result
        out.prompt_tokens = len(prompt.tokens)
        out.context_tokens = prompt.parts.get("context", 0)
        pctx = self.completion_context(snap)
        mode = decide_mode(pctx)
        out.multiline = mode == "multi"
        limit = max_tokens if max_tokens is not None else self.settings.max_tokens
        if mode == "single" and not self.settings.min_tokens:
            limit = min(limit, self.settings.max_tokens_single)
        if deadline is None and self.settings.deadline_ms > 0:
            deadline = time.monotonic() + self.settings.deadline_ms / 1000
        stopper = StreamStopper(pctx)
        last_partial = [""]
        next_partial = [0.0]
        # after the answer: where the continuation starts in the raw text, and its own stopper
        cont: dict[str, Any] = {}

        calls = [0]

        def on_text(text: str) -> bool:
            if cont:
                return bool(cont["stopper"].feed(text[cont["start"] :]))
            calls[0] += 1
            live = getattr(self.engine, "live", None)
            n_generated = live.n_generated if live is not None else calls[0]
            if n_generated >= limit:
                return False  # the answer's own token limit (the request allows more only to continue)
            keep_going = stopper.feed(text) or n_generated < self.settings.min_tokens
            # streamed partials: at most every 40 ms, each the post-processed text so far
            if on_partial is not None and keep_going and time.perf_counter() >= next_partial[0]:
                shown = stopper.finish(text).text
                if shown and shown != last_partial[0]:
                    last_partial[0] = shown
                    next_partial[0] = time.perf_counter() + 0.04
                    on_partial(shown)
            if not keep_going and on_ready is not None and continue_tokens > 0:
                processed = stopper.finish(text)
                if processed.text and text.startswith(processed.text):
                    self._fill(out, processed, getattr(self.engine, "live", None), t0)
                    ctx2 = CompletionContext(
                        prefix=pctx.prefix + processed.text,
                        suffix=pctx.suffix[processed.replace_end :],
                        language=pctx.language,
                        mode=pctx.mode,
                        max_lines=pctx.max_lines,
                        syntax_aware=pctx.syntax_aware,
                    )
                    cont.update(start=len(processed.text), ctx=ctx2, stopper=StreamStopper(ctx2))
                    on_ready(out)
                    return True
            return keep_going

        out.t_prepare = time.perf_counter() - t0
        if cancel.cancelled:
            out.outcome = "cancelled"
            return out
        extra = continue_tokens if on_ready is not None else 0
        request = GenerationRequest(
            prompt=prompt.tokens, max_tokens=limit + extra, deadline=deadline, kind=kind
        )
        result = self.engine.generate(request, cancel, on_text)
        if cont:
            # the answer went out already; what came after it is the after-accept completion
            if result.stop_reason in ("callback", "stop"):
                tail = cont["stopper"].finish(result.text[cont["start"] :])
                if tail.text:
                    out.extra["continuation"] = (cont["ctx"].prefix, cont["ctx"].suffix, tail)
            out.extra["continued"] = result.n_generated - (
                out.generation.n_generated if out.generation else 0
            )
            return out
        out.generation = result
        out.raw = result.text
        if result.stop_reason == "cancelled":
            out.outcome = "cancelled"
            out.t_total = time.perf_counter() - t0
            return out
        raw = result.text
        if result.stop_reason == "deadline" and "\n" in raw:
            raw = raw[: raw.rfind("\n") + 1]  # the complete lines generated so far
        elif result.stop_reason == "deadline":
            raw = ""
        self._fill(out, stopper.finish(raw), result, t0)
        if result.stop_reason == "deadline":
            out.extra["deadline"] = True
        return out

    @staticmethod
    def _fill(out: Outcome, processed: Processed, result: GenerationResult | None, t0: float) -> None:
        if result is not None:
            out.generation = dataclasses.replace(result, tokens=list(result.tokens))
            out.raw = result.text
        out.text = processed.text
        out.replace_end = processed.replace_end
        out.multiline = processed.multiline
        out.outcome = "shown" if processed.text else f"empty:{processed.reason or 'empty'}"
        out.t_total = time.perf_counter() - t0
