"""`qwen-ls context FILE --line L --column C`: show what the repository context would put into the
prompt for that cursor, and why (file, lines, source, score and tokens of each snippet)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "context",
        help="show the repository context a completion at FILE:LINE:COLUMN would get",
        description=__doc__,
    )
    p.add_argument("file", type=Path, help="the file being edited")
    p.add_argument("--line", type=int, required=True, help="cursor line, 1-based")
    p.add_argument("--column", type=int, default=1, help="cursor column, 1-based, in characters (default 1)")
    p.add_argument(
        "--budget", type=int, help="context tokens (default: the completion.contextTokens setting)"
    )
    p.add_argument("--workspace", type=Path, help="workspace root (default: the repository holding FILE)")
    p.add_argument(
        "--model",
        "-m",
        help="GGUF path or catalog name whose tokenizer counts tokens (a vocab-only GGUF is enough)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=run)


def default_workspace(file: Path) -> Path:
    """The repository that holds `file`: the nearest parent with `.git`, else the file's folder."""
    for parent in file.parents:
        if (parent / ".git").exists():
            return parent
    return file.parent


def run(args: argparse.Namespace) -> int:
    from qwen_ls.commands.common import fail
    from qwen_ls.context import ContextEngine, ContextSettings
    from qwen_ls.context.explain import format_text, line_col_to_offset, result_to_dict
    from qwen_ls.context.tokens import load_counter

    file = args.file.expanduser().resolve()
    if not file.is_file():
        return fail(f"no such file: {args.file}", "give the path of a file in your workspace")
    workspace = args.workspace.expanduser().resolve() if args.workspace else default_workspace(file)
    if not workspace.is_dir():
        return fail(f"no such folder: {args.workspace}", "give the workspace root with --workspace")
    budget = args.budget
    model = args.model
    if budget is None or model is None:
        try:
            from qwen_ls.config import DEFAULT_MODEL
            from qwen_ls.prompt import PromptSettings

            budget = PromptSettings.context_tokens if budget is None else budget
            model = model or DEFAULT_MODEL
        except ImportError:
            budget = 1024 if budget is None else budget
    if budget < 0:
        return fail("--budget must not be negative")
    count, label = load_counter(model)
    text = file.read_text(encoding="utf-8", errors="replace")
    engine = ContextEngine(ContextSettings(), count)
    engine.set_roots([workspace])
    engine.build_index()
    engine.on_open(file, text, None)
    offset = line_col_to_offset(text, args.line, args.column)
    result = engine.retrieve(file, text, offset, budget)
    report = result_to_dict(engine, file, result, args.line, args.column, label)
    if engine.is_excluded(file):
        report["excluded"] = "this file is excluded (secret, ignored or vendored): it gets no context"
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_text(report))
    if label.startswith("approximate"):
        print(f"note: token counts are {label}; pass --model with a GGUF for exact counts", file=sys.stderr)
    return 0
