"""`qwen-ls models list|download|path|validate`: the model catalog from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "models",
        help="list, download, locate and validate models",
        description="The catalog of Qwen2.5-Coder GGUF models: which are on this machine, download one "
        "(the only command that uses the network), print a model's path, or validate a GGUF file.",
    )
    sub = p.add_subparsers(dest="models_command", metavar="ACTION")

    ls = sub.add_parser("list", help="the catalog, and which models are on this machine")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=_list)

    dl = sub.add_parser("download", help="download a catalog model (resumable, verified)")
    dl.add_argument(
        "name", metavar="NAME", help="catalog name (qwen2.5-coder-1.5b) or hf:<owner>/<repo>/<file>.gguf"
    )
    dl.add_argument("--force", action="store_true", help="download again even if qwen-ls's cache has it")
    dl.set_defaults(func=_download)

    pa = sub.add_parser("path", help="print the path of a model that is on this machine")
    pa.add_argument("name", metavar="NAME", help="catalog name or .gguf path")
    pa.set_defaults(func=_path)

    va = sub.add_parser("validate", help="check a GGUF file (or catalog model) without loading it")
    va.add_argument("model", metavar="MODEL", help="catalog name or .gguf path")
    va.add_argument("--json", action="store_true", help="machine-readable output")
    va.set_defaults(func=_validate)

    def _help(args: argparse.Namespace) -> int:
        p.print_help(sys.stderr)
        return 2

    p.set_defaults(func=_help)


def _fail(exc: Exception) -> int:
    from qwen_ls.models import ModelError

    if isinstance(exc, ModelError):
        print(f"qwen-ls: {exc.message}", file=sys.stderr)
        if exc.fix:
            print(f"  fix: {exc.fix}", file=sys.stderr)
        return 1
    raise exc


def _list(args: argparse.Namespace) -> int:
    from qwen_ls.models import find_local, load_catalog, models_dir

    try:
        cat = load_catalog()
    except Exception as exc:
        return _fail(exc)
    rows: list[dict[str, Any]] = []
    for e in cat.models:
        local = find_local(e)
        rows.append(
            {
                "name": e.name,
                "kind": e.kind,
                "params": e.params,
                "quantization": e.quantization,
                "sizeGB": e.approx_size_gb,
                "ramGB": e.ram_gb,
                "repo": e.repo,
                "files": [f.name for f in e.files],
                "path": str(local) if local else None,
                "default": "completion"
                if e.name == cat.default_completion
                else "repair"
                if e.name == cat.default_repair
                else None,
            }
        )
    if args.json:
        print(json.dumps({"modelsDir": str(models_dir()), "models": rows}, indent=2))
        return 0
    print(f"{'NAME':<30} {'KIND':<9} {'QUANT':<7} {'SIZE':>8} {'RAM':>7}  ON DISK")
    for r in rows:
        name = r["name"] + ("*" if r["default"] else "")
        print(
            f"{name:<30} {r['kind']:<9} {r['quantization']:<7} {r['sizeGB']:>6.2f}GB "
            f"{r['ramGB']:>5.1f}GB  {r['path'] or '-'}"
        )
    print(
        f"\n* default ({cat.default_completion} for completion, {cat.default_repair} for repair)\n"
        f"downloads go to {models_dir()} (set QWEN_LS_MODELS_DIR to change)",
        file=sys.stderr,
    )
    return 0


def _download(args: argparse.Namespace) -> int:
    from qwen_ls.models import ModelError, find_local, load_catalog
    from qwen_ls.models.progress import TerminalProgress
    from qwen_ls.models.resolve import download_entry, hf_entry

    try:
        cat = load_catalog()
        entry = hf_entry(args.name) if args.name.startswith("hf:") else cat.get(args.name)
        if entry is None:
            raise ModelError(f"unknown model {args.name!r}", f"choose one of: {', '.join(cat.names())}")
        if not args.force:
            local = find_local(entry)
            if local is not None:
                print(local)
                print(f"{entry.name} is already on this machine", file=sys.stderr)
                return 0
        bar = TerminalProgress(entry.name)
        try:
            path = download_entry(entry, progress=bar, force=args.force)
        finally:
            bar.finish()
    except Exception as exc:
        return _fail(exc)
    print(path)
    return 0


def _path(args: argparse.Namespace) -> int:
    from qwen_ls.models import resolve_model

    try:
        path = resolve_model(args.name, download=False)
    except Exception as exc:
        return _fail(exc)
    print(path)
    return 0


def _validate(args: argparse.Namespace) -> int:
    from qwen_ls.models import resolve_model, validate_model

    try:
        summary = validate_model(resolve_model(args.model, download=False))
    except Exception as exc:
        return _fail(exc)
    if args.json:
        print(
            json.dumps(
                {
                    "path": str(summary.path),
                    "sizeBytes": summary.size_bytes,
                    "architecture": summary.architecture,
                    "name": summary.name,
                    "nParams": summary.n_params,
                    "nLayer": summary.n_layer,
                    "nEmbd": summary.n_embd,
                    "nHead": summary.n_head,
                    "nHeadKv": summary.n_head_kv,
                    "contextLength": summary.context_length,
                    "nVocab": summary.n_vocab,
                    "quantization": summary.quantization,
                    "fimIds": summary.fim_ids,
                    "hasChatTemplate": summary.has_chat_template,
                    "instruct": summary.instruct,
                    "shards": summary.n_shards,
                    "warnings": list(summary.warnings),
                },
                indent=2,
            )
        )
        return 0
    print(summary.describe())
    print("FIM tokens: " + ", ".join(f"{t}={i}" for t, i in summary.fim_ids.items()))
    print(f"chat template: {'yes' if summary.has_chat_template else 'no'}")
    for w in summary.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0
