"""`qwen-ls check`: resolve, validate and load the model, run one FIM completion, print the figures."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from qwen_ls.commands.common import add_model_options, fail, settings_from_args

SAMPLE = '''def fibonacci(n: int) -> int:
    """Return the n-th Fibonacci number."""
    if n < 2:
        return n
    a, b = 0, 1
    for _ in range(n - 1):
'''
SAMPLE_SUFFIX = "    return b\n"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("check", help="validate and load the model, run one completion, print figures")
    add_model_options(p)
    p.add_argument("--max-tokens", type=int, default=32, help="tokens to generate for the test completion")
    p.set_defaults(func=run)


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def _describe_file(settings: Any, out: TextIO) -> int | None:
    """Resolve and validate the GGUF (embedded engine); an exit status when that fails."""
    from qwen_ls.commands.engine_cli import describe_error
    from qwen_ls.models import resolve_model, validate_model

    try:
        path = resolve_model(settings.model, download=settings.model_download)
        summary = validate_model(path)
    except Exception as exc:
        return fail(*describe_error(exc))
    out.write(f"model file      {path} ({_mb(path.stat().st_size)})\n")
    out.write(
        f"gguf            {summary.architecture}, {summary.quantization or summary.file_type}, "
        f"{summary.n_params / 1e6:,.1f}M parameters, vocabulary {summary.n_vocab}"
        f"{', chat template' if summary.has_chat_template else ''}\n"
    )
    for warning in summary.warnings:
        out.write(f"warning         {warning}\n")
    return None


def _describe_engine(engine: Any, load_s: float, out: TextIO) -> int | None:
    """The loaded engine's figures (and a remote server's own check); an exit status when unusable."""
    info = engine.info
    from qwen_ls.engine.remote import RemoteEngine

    if isinstance(engine, RemoteEngine):
        report = engine.check()
        for line in report.lines():
            out.write(line + "\n")
        if not report.ok:
            engine.close()
            return fail("the inference server is not usable", "see the lines above")
    out.write(f"model           {info.name}\n")
    out.write(f"backend         {info.backend}\n")
    out.write(
        f"architecture    {info.architecture}: {info.n_params / 1e6:,.1f}M parameters, "
        f"{info.n_layer} layers, "
        f"{info.n_head}/{info.n_head_kv} heads, embedding {info.n_embd}, vocabulary {info.n_vocab}, "
        f"trained context {info.n_ctx_train}, {info.file_type}\n"
    )
    fim = ", ".join(f"{k}={v}" for k, v in info.fim_ids.items()) or "none"
    out.write(f"FIM token ids   {fim}\n")
    out.write(f"load time       {load_s:.2f} s\n")
    return None


def run(args: argparse.Namespace) -> int:
    from qwen_ls.commands.engine_cli import describe_error, load_cli_settings, load_engine
    from qwen_ls.engine.base import CancelToken, GenerationRequest
    from qwen_ls.prompt import SpecialIds, assemble, build_window

    settings = load_cli_settings(settings_from_args(args))
    out = sys.stdout
    if settings.engine.kind == "embedded":
        status = _describe_file(settings, out)
        if status is not None:
            return status
    try:
        engine, load_s = load_engine(settings)
    except Exception as exc:
        return fail(*describe_error(exc))
    status = _describe_engine(engine, load_s, out)
    if status is not None:
        return status
    tok = engine.tokenizer
    try:
        ids = SpecialIds.from_tokenizer(tok)
    except Exception as exc:
        return fail(*describe_error(exc))
    text = SAMPLE + SAMPLE_SUFFIX
    window = build_window(tok, text, len(SAMPLE), 512, 128)
    prompt = assemble(tok, ids, repo_name="qwen-ls-check", path="fib.py", window=window)
    # a cold run (prompt fully evaluated) gives prefill speed; the figures a user sees per keystroke
    t0 = time.perf_counter()
    result = engine.generate(
        GenerationRequest(prompt=prompt.tokens, max_tokens=args.max_tokens), CancelToken()
    )
    wall = time.perf_counter() - t0
    prefill_tps = result.n_evaluated / result.t_prefill if result.t_prefill > 0 else 0.0
    gen_tps = (
        (result.n_generated - 1) / (result.t_generate - 0)
        if result.n_generated > 1 and result.t_generate
        else 0
    )
    out.write(
        f"prompt tokens   {len(prompt.tokens)} "
        f"(evaluated {result.n_evaluated}, {prefill_tps:,.0f} tokens/s)\n"
    )
    out.write(f"first token     {result.t_first_token * 1000:,.0f} ms\n")
    out.write(
        f"generation      {result.n_generated} tokens, {gen_tps:,.1f} tokens/s, stop: {result.stop_reason}\n"
    )
    out.write(f"total           {wall * 1000:,.0f} ms\n")
    out.write(f"completion      {result.text!r}\n")
    engine.close()
    if result.n_generated == 0 and result.stop_reason not in ("stop",):
        return fail(
            "the model generated nothing", "run with --log-level DEBUG and look at llama.cpp's messages"
        )
    out.write("ok\n")
    return 0
