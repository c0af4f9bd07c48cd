"""`qwen-ls bench abort`: how soon a cancelled prefill chunk gives the engine back, and what the abort
switch costs a pass (qwen_ls/engine/llama_abort.py).

A chunk of `--tokens` prompt tokens is evaluated at `--depth` in the embedded engine: its time with the
switch armed and with no abort callback at all (medians), then the time from a cancel, made from another
thread at several points inside the pass, to the decode returning, and whether the KV cache is as it was
before the chunk.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
from typing import Any


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "abort", help="cancel-to-return time of a prefill chunk, and the abort switch's cost"
    )
    p.add_argument("--model", required=True, help="GGUF path (e.g. a synthetic 0.5b from `bench make-model`)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--depth", type=int, default=1700, help="tokens in the cache before the chunk")
    p.add_argument("--tokens", type=int, default=17, help="tokens in the chunk (a keystroke's prefill: ~17)")
    p.add_argument("--reps", type=int, default=8)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qwen_ls.engine.base import CancelToken
    from qwen_ls.engine.llama import EngineSettings, LlamaEngine, _Stopped

    engine = LlamaEngine(
        args.model, EngineSettings(n_ctx=args.depth + args.tokens + 64, threads=args.threads)
    )
    lib, mem = engine._lib, engine._mem
    rng = random.Random(1)
    tokens = [rng.randrange(200, 100_000) for _ in range(args.depth + args.tokens)]
    never = CancelToken()
    engine._decode_chunks(tokens[: args.depth], 0, never, None, False)
    chunk = tokens[args.depth :]

    def reset() -> None:
        lib.llama_memory_seq_rm(mem, 0, args.depth, -1)
        del engine._cached[args.depth :]

    def one_pass(cancel: Any) -> float:
        reset()
        t0 = time.perf_counter()
        engine._decode_chunks(chunk, args.depth, cancel, None, True)
        return time.perf_counter() - t0

    switch = engine._abort
    armed: list[float] = []
    bare: list[float] = []
    for _ in range(args.reps):
        armed.append(one_pass(CancelToken()))  # armed for a token that is never cancelled
        switch.install(False)  # no callback at all
        bare.append(one_pass(CancelToken()))
        switch.install()
    pass_s = statistics.median(bare)

    cancels = []
    for share in (0.15, 0.35, 0.55, 0.75):
        reset()
        cancel = CancelToken()
        at: dict[str, float] = {}

        def cancel_later(
            delay: float = pass_s * share, token: CancelToken = cancel, at: dict[str, float] = at
        ) -> None:
            time.sleep(delay)
            at["cancel"] = time.perf_counter()
            token.cancel()

        thread = threading.Thread(target=cancel_later)
        thread.start()
        try:
            engine._decode_chunks(chunk, args.depth, cancel, None, True)
            outcome = "finished"
        except _Stopped as stop:
            outcome = stop.reason
        returned = time.perf_counter()
        thread.join()
        consistent = (
            len(engine._cached) == args.depth and lib.llama_memory_seq_pos_max(mem, 0) == args.depth - 1
        )
        cancels.append(
            {
                "cancel_at_share_of_pass": share,
                "outcome": outcome,
                "returned_ms_after_cancel": round((returned - at["cancel"]) * 1000, 2),
                "cache_as_before": consistent if outcome == "cancelled" else None,
            }
        )
    engine.close()
    report = {
        "model": args.model,
        "depth": args.depth,
        "tokens": args.tokens,
        "pass_ms_no_callback": round(pass_s * 1000, 1),
        "pass_ms_switch_armed": round(statistics.median(armed) * 1000, 1),
        "switch_cost_ratio": round(statistics.median(armed) / pass_s, 3),
        "cancels": cancels,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{args.tokens} tokens at depth {args.depth}: {report['pass_ms_no_callback']} ms without a "
            f"callback, {report['pass_ms_switch_armed']} ms with the switch armed "
            f"({report['switch_cost_ratio']}x)"
        )
        for c in cancels:
            print(
                f"  cancel at {c['cancel_at_share_of_pass']:.0%} of the pass: {c['outcome']}, "
                f"returned {c['returned_ms_after_cancel']} ms later, cache as before: {c['cache_as_before']}"
            )
    return 0
