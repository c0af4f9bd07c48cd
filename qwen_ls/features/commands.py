"""workspace/executeCommand: `qwen.stats`, `qwen.explainContext` and `qwen.lastPrompt`.

Arguments and results are the classes declared in `qwen_ls.protocol`.
"""

from __future__ import annotations

import logging

from qwen_ls import protocol, qwen
from qwen_ls.completion import Outcome
from qwen_ls.context.explain import result_to_dict
from qwen_ls.features.base import Feature
from qwen_ls.snapshot import Skip, document, take_snapshot

log = logging.getLogger(__name__)

#: Most requests `qwen.stats` returns with `{"recent": N}`.
MAX_RECENT = 2000


class Commands(Feature):
    def register(self) -> None:
        self.command(protocol.STATS, protocol.StatsArguments, self.stats)
        self.command(protocol.EXPLAIN_CONTEXT, protocol.ExplainContextArguments, self.explain_context)
        self.command(protocol.LAST_PROMPT, protocol.LastPromptArguments, self.last_prompt)

    def stats(self, args: protocol.StatsArguments) -> protocol.StatsResult:
        """The summary; with `{"recent": N}` also the last N requests' metrics."""
        services = self.services
        models, lane = services.models, services.lane
        engine = models.engine
        recent = args.options.recent if args.options is not None else None
        return protocol.StatsResult(
            summary=services.stats.summary(),
            model=protocol.ModelSummary(
                state=models.state,
                message=models.message,
                name=engine.info.name if engine is not None else None,
                path=engine.info.path if engine is not None else None,
                load_seconds=round(models.load_seconds, 3),
            ),
            context=dict(services.context.engine.stats()) if services.context.engine is not None else None,
            jobs_started=dict(lane.started_by_kind),
            busy=lane.busy,
            idle_preempted=lane.preempted,
            recent=services.stats.recent(max(0, min(MAX_RECENT, recent))) if recent is not None else None,
        )

    async def explain_context(self, args: protocol.ExplainContextArguments) -> protocol.ExplainContextResult:
        """What would go into the prompt at the position: each snippet and the budget split."""
        server, services = self.server, self.services
        position = args.position
        context = services.context.engine
        snap = take_snapshot(
            document(server.workspace, args.uri),
            position,
            True,
            max_bytes=self.settings.completion.max_document_bytes,
            context=context,
            roots=server.workspace_roots,
            on_too_large=lambda uri: None,
        )
        if isinstance(snap, Skip):
            return protocol.ExplainContextResult(reason=Outcome.empty(snap.reason).label)
        pipeline = services.completions.pipeline
        if pipeline is None:
            return protocol.ExplainContextResult(reason=f"model {services.models.state}")
        job = services.lane.submit(lambda cancel: pipeline.build_prompt(snap), kind="explain", priority=2)
        result = await job.future
        if result is None:
            return protocol.ExplainContextResult(reason="cancelled")
        prompt, ctx = result
        parts, n_tokens = dict(prompt.parts), len(prompt.tokens)
        if ctx is None or context is None or snap.path is None:
            return protocol.ExplainContextResult(
                reason="no repository context",
                report={"file": snap.rel_path, "repo": snap.repo_name},
                prompt_parts=parts,
                prompt_tokens=n_tokens,
            )
        line, column = position.line + 1, position.character + 1
        report = result_to_dict(context, snap.path, ctx, line, column, "model tokenizer")
        snippets = report.pop("snippets")
        return protocol.ExplainContextResult(
            snippets=snippets, report=report, prompt_parts=parts, prompt_tokens=n_tokens
        )

    def last_prompt(self, args: protocol.LastPromptArguments) -> protocol.LastPromptResult:
        """The last completion prompt as text (special tokens written out): "why did it suggest that"."""
        pipeline = self.services.completions.pipeline
        if pipeline is None or pipeline.last_prompt is None:
            return protocol.LastPromptResult(prompt=None)
        tok = pipeline.engine.tokenizer
        specials = {tid: text for text, tid in qwen.special_ids(tok.special_id).items()}
        last = pipeline.last_prompt
        text = qwen.render_tokens(last.tokens, specials, tok.detokenize)
        return protocol.LastPromptResult(prompt=text, tokens=len(last.tokens), parts=dict(last.parts))
