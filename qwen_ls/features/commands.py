"""workspace/executeCommand: qwen.stats and qwen.explainContext."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

if TYPE_CHECKING:
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
    if ls.lane is not None:
        out["jobsStarted"] = dict(ls.lane.started_by_kind)
        out["busy"] = ls.lane.busy
    return out


def register(server: QwenLanguageServer) -> None:
    @server.command("qwen.stats")
    def stats(ls: QwenLanguageServer, *args: Any) -> dict[str, Any]:
        return stats_summary(ls)

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
        snippets = [
            {
                "path": s.path,
                "start_line": s.start_line,
                "end_line": s.end_line,
                "text": s.text,
                "source": s.source,
                "score": s.score,
                "tokens": s.tokens,
            }
            for s in (ctx.snippets if ctx is not None else ())
        ]
        return {
            "file": snap.rel_path,
            "repo": snap.repo_name,
            "snippets": snippets,
            "budget": prompt.parts,
            "promptTokens": len(prompt.tokens),
        }
