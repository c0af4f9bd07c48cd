"""workspace/executeCommand: qwen.stats and qwen.explainContext."""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

# A runtime import: pygls resolves command handlers' annotations to structure their arguments.
from qwen_ls.server import QwenLanguageServer

log = logging.getLogger(__name__)


def stats_summary(ls: QwenLanguageServer) -> dict[str, Any]:
    out = ls.stats.summary()
    models = ls.models
    out["model"] = {
        "state": models.state if models else "starting",
        "message": models.message if models else "",
        "name": models.engine.info.name if models and models.engine else None,
        "path": models.engine.info.path if models and models.engine else None,
        "loadSeconds": round(models.load_seconds, 3) if models else None,
    }
    if ls.context is not None:
        out["context"] = ls.context.stats()
    if ls.lane is not None:
        out["jobsStarted"] = dict(ls.lane.started_by_kind)
        out["busy"] = ls.lane.busy
        out["idlePreempted"] = ls.lane.preempted
    return out


def register(server: QwenLanguageServer) -> None:
    @server.command("qwen.stats")
    def stats(ls: QwenLanguageServer, *args: Any) -> dict[str, Any]:
        """The summary; with an argument `{"recent": N}` also the last N requests' metrics."""
        out = stats_summary(ls)
        if args and isinstance(args[0], dict) and isinstance(args[0].get("recent"), int):
            out["recent"] = ls.stats.recent(max(0, min(2000, args[0]["recent"])))
        return out

    @server.command("qwen.explainContext")
    async def explain_context(ls: QwenLanguageServer, *args: Any) -> dict[str, Any]:
        from qwen_ls.features.inline_completion import snapshot

        if len(args) < 2:
            raise JsonRpcInvalidParams("qwen.explainContext takes [uri, position]")
        uri, pos = args[0], args[1]
        if isinstance(pos, dict):
            position = types.Position(line=int(pos["line"]), character=int(pos["character"]))
        else:
            position = pos
        snap = snapshot(ls, uri, position, invoked=True)
        if isinstance(snap, str):
            return {"snippets": [], "reason": snap}
        if ls.completions is None or ls.completions.pipeline is None:
            return {"snippets": [], "reason": f"model {ls.models.state if ls.models else 'starting'}"}
        pipeline = ls.completions.pipeline
        assert ls.lane is not None
        job = ls.lane.submit(lambda cancel: pipeline.build_prompt(snap), kind="explain", priority=2)
        result = await job.future
        if result is None:
            return {"snippets": [], "reason": "cancelled"}
        prompt, ctx = result
        if ctx is not None and ls.context is not None and snap.path is not None:
            from qwen_ls.context.explain import result_to_dict

            line = position.line + 1
            out = result_to_dict(ls.context, snap.path, ctx, line, position.character + 1, "model tokenizer")
        else:
            out = {"file": snap.rel_path, "repo": snap.repo_name, "snippets": []}
            out["reason"] = "no repository context"
        out["promptParts"] = prompt.parts
        out["promptTokens"] = len(prompt.tokens)
        return out

    @server.command("qwen.lastPrompt")
    def last_prompt(ls: QwenLanguageServer, *args: Any) -> dict[str, Any]:
        """The last completion prompt as text (special tokens written out): "why did it suggest that"."""
        pipeline = ls.completions.pipeline if ls.completions is not None else None
        if pipeline is None or pipeline.last_prompt is None:
            return {"prompt": None}
        tok = pipeline.engine.tokenizer
        specials = {v: k for k, v in _special_ids(pipeline).items()}
        parts: list[str] = []
        run: list[int] = []
        for t in pipeline.last_prompt.tokens:
            if t in specials:
                parts.append(tok.detokenize(run))
                run = []
                parts.append(specials[t])
            else:
                run.append(t)
        parts.append(tok.detokenize(run))
        last = pipeline.last_prompt
        return {"prompt": "".join(parts), "tokens": len(last.tokens), "parts": last.parts}


def _special_ids(pipeline: Any) -> dict[str, int]:
    from qwen_ls import qwen

    tok = pipeline.engine.tokenizer
    return {text: tid for text in qwen.SPECIAL_TEXTS if (tid := tok.special_id(text)) is not None}
