"""The runner and the text report of `qwen-ls bench specdec` (the measured parts are in `specdec`)."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from qwen_ls.bench.specdec import (
    load_rows,
    measure_costs,
    projected_speedup,
    replay_all,
    tokenized_rows,
    tokens_per_pass,
)
from qwen_ls.engine.draft import LookupSettings


def run(args: argparse.Namespace) -> dict[str, Any]:
    depths = [int(d) for d in str(args.depths).split(",") if d.strip()]
    languages = [x.strip() for x in str(args.languages).split(",") if x.strip()]
    models = dict(_parse_model(m) for m in args.model)
    report: dict[str, Any] = {"k_max": args.k_max, "tokens": args.tokens, "depths": depths}
    report["costs"] = {}
    if not args.skip_cost:
        for shape, path in models.items():
            report["costs"][shape] = measure_costs(path, depths, args.k_max, args.reps, args.threads)
    pairs = _pairs(args.data, languages, args.tokens)
    report["acceptance"] = _acceptance(pairs, args.k_max, report["costs"])
    if pairs and models and args.measure_rows > 0 and not args.skip_cost:
        shape, path = next(iter(models.items()))
        report["measured"] = {"shape": shape, **_measure(path, pairs, args)}
    return report


def _parse_model(text: str) -> tuple[str, Path]:
    shape, sep, path = text.partition("=")
    if not sep:
        raise SystemExit(f"--model wants SHAPE=GGUF, got {text!r}")
    return shape, Path(path)


def _pairs(data: Path, languages: list[str], n_tokens: int) -> dict[str, list[tuple[list[int], list[int]]]]:
    from qwen_ls.engine.llama import load_tokenizer

    vocab = data / "qwen2-vocab" / "ggml-vocab-qwen2.gguf"
    if not vocab.is_file():
        raise SystemExit(f"the Qwen vocabulary is not at {vocab} (give --data)")
    tokenizer = load_tokenizer(vocab)
    return tokenized_rows(load_rows(data, languages), tokenizer.tokenize, n_tokens)


def _acceptance(
    pairs: dict[str, list[tuple[list[int], list[int]]]], k_max: int, costs: dict[str, Any]
) -> dict[str, Any]:
    lookup = LookupSettings()
    out: dict[str, Any] = {}
    for lang, rows in sorted(pairs.items()):
        entry: dict[str, Any] = {"rows": len(rows), "tokens_per_pass": {}, "projected": {}}
        replays = {k: replay_all(rows, k, lookup) for k in range(1, k_max + 1)}
        for k, reps in replays.items():
            entry["tokens_per_pass"][k] = round(tokens_per_pass(reps), 3)
        for shape, cost in costs.items():
            for depth, table in cost["depths"].items():
                ratio = {int(k): float(v) for k, v in table["ratio"].items()}
                fixed = {k: projected_speedup(reps, ratio) for k, reps in replays.items()}
                best = max(fixed, key=lambda k: fixed[k])
                auto = replay_all(rows, k_max, lookup, ratio)
                entry["projected"][f"{shape}@{depth}"] = {
                    "best_k": best,
                    "best_speedup": round(fixed[best], 3),
                    "speedup_k_max": round(fixed[k_max], 3),
                    "auto_speedup": round(projected_speedup(auto, ratio), 3),
                    "auto_tokens_per_pass": round(tokens_per_pass(auto), 3),
                }
        out[lang] = entry
    return out


def _measure(
    path: Path, pairs: dict[str, list[tuple[list[int], list[int]]]], args: argparse.Namespace
) -> dict[str, Any]:
    """The engine on the synthetic model over a few real prompts: off, prompt-lookup and auto."""
    from qwen_ls.engine.base import CancelToken, GenerationRequest
    from qwen_ls.engine.llama import EngineSettings, LlamaEngine
    from qwen_ls.engine.speculative import Speculation

    depth = min(int(d) for d in str(args.depths).split(","))
    engine = LlamaEngine(path, EngineSettings(n_ctx=depth + 2 * args.tokens + 64, threads=args.threads))
    specs = {mode: Speculation(mode, args.k_max) for mode in ("off", "prompt-lookup", "auto")}
    ms: dict[str, list[float]] = {mode: [] for mode in specs}
    rows = [row for lang in sorted(pairs) for row in pairs[lang][: args.measure_rows]]
    for prompt, _output in rows:
        tail = prompt[-depth:]
        for mode, spec in specs.items():
            engine.speculation = spec
            r = engine.generate(GenerationRequest(tail, max_tokens=args.tokens), CancelToken())
            if r.n_generated > 1:
                ms[mode].append(1000 * r.t_generate / (r.n_generated - 1))
    engine.close()
    return {
        "rows": len(rows),
        "depth": depth,
        "modes": {
            mode: {
                "tokens_per_pass": round(spec.stats.tokens_per_pass(), 3),
                "drafted": spec.stats.drafted,
                "accepted": spec.stats.accepted,
                "ms_per_token_median": round(statistics.median(ms[mode]), 2) if ms[mode] else None,
            }
            for mode, spec in specs.items()
        },
    }


def render(report: dict[str, Any]) -> str:
    lines: list[str] = []
    k_max = report["k_max"]
    ks = list(range(1, k_max + 1))
    for shape, cost in report["costs"].items():
        lines.append(
            f"verification cost, {shape} shape, {cost['threads']} threads: t(k+1 tokens) / t(1 token)"
        )
        lines.append("depth  1 tok ms  " + "  ".join(f"k={k:<3}" for k in ks))
        for depth, table in cost["depths"].items():
            ratios = "  ".join(f"{table['ratio'][k]:<5.2f}" for k in ks)
            lines.append(f"{depth:>5}  {table['one_token_ms']:>8.1f}  {ratios}")
        lines.append("")
    lines.append(
        f"real acceptance (completebench outputs, first {report['tokens']} tokens): tokens per target pass"
    )
    lines.append("language    rows  " + "  ".join(f"k={k:<3}" for k in ks))
    for lang, entry in report["acceptance"].items():
        tpp = "  ".join(f"{entry['tokens_per_pass'][k]:<5.2f}" for k in ks)
        lines.append(f"{lang:<10}  {entry['rows']:>4}  {tpp}")
    if any(e["projected"] for e in report["acceptance"].values()):
        lines.append("")
        lines.append("projected speed-up (plain time / drafting time): best fixed k, k=max, auto policy")
        for lang, entry in report["acceptance"].items():
            for where, p in entry["projected"].items():
                lines.append(
                    f"{lang:<10}  {where:<10}  best k={p['best_k']} x{p['best_speedup']:.2f}  "
                    f"k={k_max} x{p['speedup_k_max']:.2f}  auto x{p['auto_speedup']:.2f} "
                    f"({p['auto_tokens_per_pass']:.2f} tok/pass)"
                )
    measured = report.get("measured")
    if measured:
        lines.append("")
        lines.append(
            f"measured on the synthetic {measured['shape']} model ({measured['rows']} real prompts, "
            f"last {measured['depth']} tokens; random weights never copy, so acceptance is ~0)"
        )
        for mode, m in measured["modes"].items():
            lines.append(
                f"  {mode:<14} {m['tokens_per_pass']:.2f} tok/pass  drafted {m['drafted']:>4}  "
                f"accepted {m['accepted']:>3}  median {m['ms_per_token_median']} ms/token"
            )
    return "\n".join(lines)
