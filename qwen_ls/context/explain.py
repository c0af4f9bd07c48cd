""" "Why did it suggest that?": what the repository context puts into a prompt, as a JSON-able dict.

Shared by `qwen-ls context` and the `qwen.explainContext` LSP command, so both say the same thing.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from qwen_ls.context.engine import ContextEngine
from qwen_ls.context.types import SOURCES, ContextResult


def line_col_to_offset(text: str, line: int, column: int) -> int:
    """Character offset of a 1-based line and column (columns count characters, as editors show them).
    Out-of-range values are clamped to the text."""
    lines = text.split("\n")
    line = max(1, min(line, len(lines)))
    offset = sum(len(x) + 1 for x in lines[: line - 1])
    return offset + max(0, min(column - 1, len(lines[line - 1])))


def result_to_dict(
    engine: ContextEngine,
    path: Path,
    result: ContextResult,
    line: int | None = None,
    column: int | None = None,
    tokens: str = "",
) -> dict[str, Any]:
    """The explanation of one retrieval: every snippet (file, lines, source, score, tokens, reason) and
    the budget split by source."""
    split: dict[str, int] = {source: result.by_source.get(source, 0) for source in SOURCES}
    split["free"] = max(0, result.budget - result.used)
    out: dict[str, Any] = {
        "file": engine.relative_path(path),
        "repo": engine.repo_name(path),
        "budget": result.budget,
        "used": result.used,
        "budget_split": split,
        "reranked": result.reranked,
        "elapsed_ms": round(result.elapsed_ms, 2),
        "candidates": result.candidates,
        "index": {"files": result.index_files, "ready": result.index_ready},
        "snippets": [asdict(s) for s in result.snippets],
    }
    if line is not None:
        out["cursor"] = {"line": line, "column": column}
    if tokens:
        out["token_counts"] = tokens
    return out


def explain(
    engine: ContextEngine,
    path: Path,
    text: str,
    offset: int,
    budget: int,
    window: tuple[int, int] | None = None,
    tokens: str = "",
) -> dict[str, Any]:
    """Retrieve for the cursor and explain it (for `qwen.explainContext`; `offset` is a character
    offset into `text`)."""
    result = engine.retrieve(path, text, offset, budget, window)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return result_to_dict(engine, path, result, line, column, tokens)


def format_text(report: dict[str, Any]) -> str:
    """The human-readable form of `result_to_dict`'s output."""
    lines = [
        f"{report['file']} in {report['repo']}: {report['used']} of {report['budget']} context tokens used, "
        f"{len(report['snippets'])} snippets ({report['elapsed_ms']} ms, "
        f"{report['index']['files']} files indexed)",
    ]
    if report.get("token_counts"):
        lines.append(f"token counts: {report['token_counts']}")
    split = ", ".join(f"{k} {v}" for k, v in report["budget_split"].items() if v)
    lines.append(f"budget split: {split or 'nothing'}")
    for i, s in enumerate(report["snippets"], 1):
        lines.append("")
        lines.append(
            f"[{i}] {s['path']}:{s['start_line']}-{s['end_line']}  {s['source']}  score {s['score']:.3f}  "
            f"{s['tokens']} tokens"
        )
        if s.get("reason"):
            lines.append(f"    why: {s['reason']}")
        for text_line in s["text"].split("\n"):
            lines.append(f"    | {text_line}")
    return "\n".join(lines)
