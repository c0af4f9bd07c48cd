"""`qwen-ls bench retrieval --synthetic-workspace`: a generated 2,000-file workspace; index build time,
index memory, retrieve p50/p95, and how often the context part stays the same while typing.

Split out of `qwen_ls.bench.retrieval` (see its docstring).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qwen_ls.bench.retrieval import _counter

_WORDS = [
    "account",
    "alpha",
    "batch",
    "buffer",
    "cache",
    "channel",
    "client",
    "config",
    "context",
    "cursor",
    "device",
    "document",
    "engine",
    "event",
    "factor",
    "feature",
    "filter",
    "frame",
    "graph",
    "handler",
    "index",
    "item",
    "kernel",
    "layer",
    "loader",
    "manager",
    "matrix",
    "message",
    "model",
    "module",
    "node",
    "order",
    "packet",
    "parser",
    "payload",
    "pipeline",
    "policy",
    "pool",
    "queue",
    "reader",
    "record",
    "region",
    "request",
    "resource",
    "result",
    "router",
    "sample",
    "scene",
    "schema",
    "session",
    "signal",
    "socket",
    "source",
    "state",
    "stream",
    "table",
    "task",
    "tensor",
    "token",
    "tracker",
    "transform",
    "user",
    "vector",
    "view",
    "worker",
    "writer",
]


def make_synthetic_workspace(root: Path, n_files: int, seed: int = 7) -> list[Path]:
    """A deterministic Python/TypeScript workspace: packages of modules with classes, functions and
    cross-module imports, about 120-260 lines a file."""
    rng = random.Random(seed)
    paths: list[Path] = []
    modules: list[tuple[str, list[str], list[str]]] = []  # (dotted, classes, functions)
    for i in range(n_files):
        pkg = f"pkg{i % 40:02d}"
        name = f"{rng.choice(_WORDS)}_{rng.choice(_WORDS)}_{i}"
        ts = i % 5 == 4
        rel = Path("src") / pkg / (name + (".ts" if ts else ".py"))
        classes = [
            f"{rng.choice(_WORDS).title()}{rng.choice(_WORDS).title()}{i}" for _ in range(rng.randint(1, 3))
        ]
        funcs = [f"{rng.choice(_WORDS)}_{rng.choice(_WORDS)}_{i}_{k}" for k in range(rng.randint(3, 8))]
        lines: list[str] = []
        imports = rng.sample(modules, min(len(modules), rng.randint(1, 5))) if modules else []
        used: list[str] = []
        for dotted, cls, fns in imports:
            if ts:
                lines.append(f"import {{ {fns[0]}, {cls[0]} }} from './{dotted.rsplit('.', 1)[-1]}';")
            else:
                lines.append(f"from {dotted} import {fns[0]}, {cls[0]}")
            used += [fns[0], cls[0]]
        lines.append("")
        for c in classes:
            if ts:
                lines.append(f"export class {c} {{")
            else:
                lines.append(f"class {c}:")
                lines.append(f"    def __init__(self, {rng.choice(_WORDS)}: int) -> None:")
                for _ in range(rng.randint(2, 5)):
                    lines.append(
                        f"        self.{rng.choice(_WORDS)}_{rng.choice(_WORDS)} = {rng.randint(0, 99)}"
                    )
            for _ in range(rng.randint(3, 7)):
                meth = f"{rng.choice(_WORDS)}_{rng.choice(_WORDS)}"
                args = ", ".join(rng.sample(_WORDS, 2))
                lines.append(f"  {meth}({args}) {{" if ts else f"    def {meth}(self, {args}):")
                for _ in range(rng.randint(3, 10)):
                    a, b = rng.sample(_WORDS, 2)
                    call = rng.choice(used) if used and rng.random() < 0.3 else f"{a}_{b}"
                    lines.append(
                        f"    const {a} = {call}({b});" if ts else f"        {a} = {call}({b}, self)"
                    )
                lines.append("  }" if ts else f"        return {rng.choice(_WORDS)}")
                lines.append("")
            if ts:
                lines.append("}")
        for fn in funcs:
            args = ", ".join(rng.sample(_WORDS, 3))
            lines.append(f"export function {fn}({args}) {{" if ts else f"def {fn}({args}):")
            for _ in range(rng.randint(4, 14)):
                a, b, c = rng.sample(_WORDS, 3)
                call = rng.choice(used) if used and rng.random() < 0.25 else f"{b}_{c}"
                lines.append(f"  let {a} = {call}({b}, {c});" if ts else f"    {a} = {call}({b}, {c})")
            lines.append("}" if ts else f"    return {rng.choice(_WORDS)}")
            lines.append("")
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines), encoding="utf-8")
        paths.append(path)
        modules.append((f"src.{pkg}.{name}", classes, funcs))
    (root / ".gitignore").write_text("build/\n", encoding="utf-8")
    return paths


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def _index_cost(root: Path, count: Callable[[str], int]) -> tuple[Any, float, float, int]:
    """A built index and what it cost: seconds, RSS growth (MB), traced Python bytes."""
    import gc
    import tracemalloc

    from qwen_ls.context import ContextEngine, ContextSettings

    engine = ContextEngine(ContextSettings(), count)
    engine.set_roots([root])
    gc.collect()
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    engine.build_index()
    build_s = time.perf_counter() - t0
    gc.collect()
    rss_delta = _rss_mb() - rss0
    # Python-level bytes the index holds, measured on a second build under tracemalloc
    probe = ContextEngine(ContextSettings(), count)
    probe.set_roots([root])
    tracemalloc.start()
    probe.build_index()
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del probe
    gc.collect()
    return engine, build_s, rss_delta, traced


def _cold_latency(
    engine: Any, paths: list[Path], rng: random.Random, budget: int, requests: int
) -> list[float]:
    """Retrieve times (ms) at random places with no state kept between requests."""
    cold: list[float] = []
    for _ in range(requests):
        path = rng.choice(paths)
        text = path.read_text(encoding="utf-8")
        lines = text.split("\n")
        ln = rng.randrange(len(lines) // 3, len(lines))
        offset = sum(len(x) + 1 for x in lines[:ln]) + len(lines[ln]) // 2
        engine.reset_state()
        t1 = time.perf_counter()
        engine.retrieve(path, text, offset, budget, window=(max(0, offset - 4000), offset))
        cold.append((time.perf_counter() - t1) * 1000)
    return cold


def _typing_latency(engine: Any, paths: list[Path], rng: random.Random, budget: int) -> list[float]:
    """Retrieve times (ms) typing in one place: one character a keystroke along a new line, in 20 files."""
    typing: list[float] = []
    for path in rng.sample(paths, 20):
        text = path.read_text(encoding="utf-8")
        lines = text.split("\n")
        ln = rng.randrange(len(lines) // 3, len(lines))
        insert_at = sum(len(x) + 1 for x in lines[:ln])
        typed = "    result = " + rng.choice(_WORDS) + "_" + rng.choice(_WORDS) + "(value, other)\n"
        for k in range(1, len(typed) + 1):
            new_text = text[:insert_at] + typed[:k] + text[insert_at:]
            t1 = time.perf_counter()
            engine.retrieve(
                path,
                new_text,
                insert_at + k,
                budget,
                window=(max(0, insert_at - 4000), insert_at + k),
            )
            typing.append((time.perf_counter() - t1) * 1000)
    return typing


def run_synthetic(args: argparse.Namespace) -> dict[str, Any]:
    count, token_label = _counter(args.vocab)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="qwen-ls-synth-") as tmp:
        root = Path(tmp)
        paths = make_synthetic_workspace(root, args.files)
        engine, build_s, rss_delta, traced = _index_cost(root, count)
        cold = _cold_latency(engine, paths, rng, args.budget, args.requests)
        engine.reset_state()
        before = dict(engine.counters)
        typing = _typing_latency(engine, paths, rng, args.budget)
        after = engine.counters
        reqs = after["requests"] - before["requests"]
        reused = (after["identical"] - before["identical"]) + (after["extended"] - before["extended"])
        cold.sort()
        typing.sort()
        return {
            "files": args.files,
            "indexed_files": len(engine.index.files),
            "budget": args.budget,
            "tokens": token_label,
            "index_build_s": round(build_s, 2),
            "index_rss_mb": round(rss_delta, 1),
            "index_traced_mb": round(traced / 1e6, 1),
            "retrieve_ms_p50": round(statistics.median(cold), 2),
            "retrieve_ms_p95": round(cold[int(0.95 * (len(cold) - 1))], 2),
            "typing_retrieve_ms_p50": round(statistics.median(typing), 2),
            "typing_retrieve_ms_p95": round(typing[int(0.95 * (len(typing) - 1))], 2),
            "typing_requests": reqs,
            "typing_context_reuse_rate": round(reused / max(1, reqs), 3),
            "typing_kept": after["kept"] - before["kept"],
        }
