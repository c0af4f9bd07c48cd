"""`qwen-ls complete FILE --line L --column C`: one completion through the server's own pipeline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from qwen_ls.commands.common import add_model_options, fail, settings_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("complete", help="print one completion at a position of a file")
    p.add_argument("file", help="the file to complete in")
    p.add_argument("--line", type=int, required=True, help="1-based line, as editors show it")
    p.add_argument(
        "--column", type=int, required=True, help="1-based column in characters, as editors show it"
    )
    p.add_argument("--workspace", help="the workspace root (default: the repository that holds FILE)")
    p.add_argument("--no-context", action="store_true", help="leave repository context out of the prompt")
    p.add_argument("--max-tokens", type=int, help="most tokens to generate")
    p.add_argument(
        "--json", action="store_true", help="print a JSON object with the completion and its figures"
    )
    add_model_options(p)
    p.set_defaults(func=run)


def offset_of(text: str, line: int, column: int) -> int:
    """Offset of a 1-based line and column (in characters); ValueError with a readable message."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        raise ValueError(f"line {line} is outside the file (1..{len(lines)})")
    if not 1 <= column <= len(lines[line - 1]) + 1:
        raise ValueError(f"column {column} is outside line {line} (1..{len(lines[line - 1]) + 1})")
    return sum(len(s) + 1 for s in lines[: line - 1]) + column - 1


def find_workspace(path: Path) -> Path:
    for parent in [path.parent, *path.parent.parents]:
        if (parent / ".git").exists():
            return parent
    return path.parent


def _build_context(settings: Any, engine: Any, workspace: Path) -> Any:
    """The repository context engine, indexed; None when it is off or fails (context is an extra)."""
    if not settings.context.enabled:
        return None
    try:
        from qwen_ls.context import ContextEngine

        tok = engine.tokenizer
        context = ContextEngine(settings.context, lambda s: len(tok.tokenize(s)))
        context.set_roots([workspace])
        context.build_index()
    except Exception as exc:  # context is an extra
        print(f"qwen-ls: warning: no repository context: {exc}", file=sys.stderr)
        return None
    return context


def _print_result(out: Any, load_s: float, as_json: bool) -> None:
    g = out.generation
    if as_json:
        print(
            json.dumps(
                {
                    "text": out.text,
                    "replaceEnd": out.replace_end,
                    "outcome": out.label,
                    "raw": out.raw,
                    "promptTokens": out.prompt_tokens,
                    "contextTokens": out.context_tokens,
                    "generatedTokens": g.n_generated if g else 0,
                    "timeToFirstTokenMs": round(g.t_first_token * 1000, 1) if g else None,
                    "totalMs": round(out.t_total * 1000, 1),
                    "loadSeconds": round(load_s, 3),
                },
                indent=2,
            )
        )
    else:
        sys.stdout.write(out.text)
        if out.text and not out.text.endswith("\n"):
            sys.stdout.write("\n")
        if not out.text:
            print(f"qwen-ls: no completion here ({out.label})", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from qwen_ls.commands.engine_cli import describe_error, load_cli_settings, load_engine
    from qwen_ls.completion import CompletionPipeline, Snapshot
    from qwen_ls.engine.base import CancelToken
    from qwen_ls.syntax import language_for_path

    path = Path(args.file).expanduser().resolve()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return fail(f"cannot read {args.file}: {exc.strerror or exc}", "give the path of a text file")
    if b"\x00" in raw[:8192]:
        return fail(f"{args.file} looks binary", "give the path of a text file")
    text = raw.decode("utf-8", "replace")
    try:
        offset = offset_of(text, args.line, args.column)
    except ValueError as exc:
        return fail(str(exc), "lines and columns start at 1")
    layer = settings_from_args(args)
    if args.max_tokens:
        layer.setdefault("completion", {})["maxTokens"] = args.max_tokens
    settings = load_cli_settings(layer)
    try:
        engine, load_s = load_engine(settings)
    except Exception as exc:
        return fail(*describe_error(exc))
    workspace = Path(args.workspace).resolve() if args.workspace else find_workspace(path)
    context = None if args.no_context else _build_context(settings, engine, workspace)
    # the server's own pipeline, from the same settings (no deadline: nobody is typing)
    pipeline = CompletionPipeline(engine, settings.completion, context)
    try:
        rel = path.relative_to(workspace).as_posix()
    except ValueError:
        rel = path.name
    if context is not None:
        rel, repo = context.relative_path(path), context.repo_name(path)
    else:
        repo = workspace.name
    snap = Snapshot(
        uri=path.as_uri(),
        text=text,
        offset=offset,
        language=language_for_path(path),
        path=path,
        rel_path=rel,
        repo_name=repo,
        invoked=True,
    )
    out = pipeline.run(snap, CancelToken())
    _print_result(out, load_s, args.json)
    engine.close()
    return 0
