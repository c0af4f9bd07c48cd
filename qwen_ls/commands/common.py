"""Options shared by the commands that load a model, and the one-line failure they print."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", help="a GGUF path or a catalog name (qwen-ls models list)")
    parser.add_argument(
        "--download",
        action="store_true",
        help="download a named model that is not on disk yet (off by default)",
    )
    parser.add_argument("--threads", type=int, help="CPU threads (default: one per core, at most 8)")
    parser.add_argument("--ctx", type=int, help="context size in tokens")
    parser.add_argument("--gpu-layers", type=int, help="layers to offload to a GPU (-1: all)")


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The settings layer the command line gives (camelCase, as editors send them)."""
    out: dict[str, Any] = {}
    if getattr(args, "model", None):
        out["model"] = args.model
    if getattr(args, "download", False):
        out["modelDownload"] = True
    engine: dict[str, Any] = {}
    if getattr(args, "threads", None):
        engine["threads"] = args.threads
    if getattr(args, "ctx", None):
        engine["nCtx"] = args.ctx
    if getattr(args, "gpu_layers", None) is not None:
        engine["gpuLayers"] = args.gpu_layers
    if engine:
        out["engine"] = engine
    return out


def fail(message: str, fix: str = "") -> int:
    """Print one line that says what is wrong and how to fix it; exit status 1."""
    line = f"qwen-ls: error: {message}"
    if fix:
        line += f" (fix: {fix})"
    print(line, file=sys.stderr)
    return 1
