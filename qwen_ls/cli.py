"""The `qwen-ls` command line: a thin dispatcher over the command modules in `qwen_ls.commands`
and the benchmarks in `qwen_ls.bench`.

Each module exposes `register(subparsers)`, which adds its parser and sets `func(args) -> int`.
Modules keep heavy imports inside their handlers so `qwen-ls serve` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from qwen_ls import __version__

#: Top-level commands, in the order `--help` lists them.
COMMAND_MODULES = [
    "qwen_ls.commands.serve",
    "qwen_ls.commands.check",
    "qwen_ls.commands.complete",
    "qwen_ls.commands.context_cmd",
    "qwen_ls.commands.models_cmd",
]

#: `qwen-ls bench <name>` subcommands.
BENCH_MODULES = [
    "qwen_ls.bench.make_model",
    "qwen_ls.bench.postprocess_bench",
    "qwen_ls.bench.retrieval",
    "qwen_ls.bench.latency",
    "qwen_ls.bench.repair_bench",
    "qwen_ls.bench.load",
    "qwen_ls.bench.soak",
    "qwen_ls.bench.specdec",
    "qwen_ls.bench.abort",
]


def _register_all(subparsers: argparse._SubParsersAction, modules: list[str]) -> None:
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command not built yet
                continue
            raise
        module.register(subparsers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qwen-ls",
        description="Qwen2.5-Coder inline completions for any LSP editor, run in-process with llama.cpp.",
    )
    parser.add_argument("--version", action="version", version=f"qwen-ls {__version__}")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR (logs go to stderr)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _register_all(sub, COMMAND_MODULES)
    bench = sub.add_parser("bench", help="benchmarks and synthetic models")
    bench_sub = bench.add_subparsers(dest="bench_command", metavar="BENCH")
    _register_all(bench_sub, BENCH_MODULES)

    def bench_help(args: argparse.Namespace) -> int:
        bench.print_help(sys.stderr)
        return 2

    bench.set_defaults(func=bench_help)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from qwen_ls.log import setup_cli_logging

    setup_cli_logging(args.log_level, "INFO" if args.command == "serve" else "WARNING")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
