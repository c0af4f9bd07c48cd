"""`qwen-ls bench specdec`: what prompt-lookup speculative decoding saves, from measured parts.

1. Cost: llama.cpp's time to evaluate k + 1 tokens in one pass (logits at every position, as a
   verification does) against one token, at the same KV depth, k = 1..8, on synthetic models of the real
   shapes (the cost does not depend on the weights). Reported as medians of per-repetition ratios.
2. Acceptance: the real Qwen2.5-Coder outputs in completebench, each row's first tokens replayed against
   the drafter over the row's own prompt (tokenized with the real Qwen vocabulary): target passes per
   token as the engine would run them, per language and per draft-length cap.
3. Projection: speed-up = tokens produced / sum over passes of c(k of that pass); plain decoding spends
   one pass of cost 1 per token. Also the `auto` policy replayed against the measured costs.
4. Measured: tokens per pass and ms per token of the engine itself on the synthetic model, drafting off,
   always, and auto (random weights never copy their prompt, so their acceptance is no estimate of real
   acceptance; this shows what rejected drafts cost and that `auto` stops paying for them).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qwen_ls.engine.draft import Drafter, LookupSettings, PromptLookupDrafter
from qwen_ls.engine.speculative import DraftPolicy

#: Qwen2.5-Coder's FIM marker ids (the qwen2 vocab GGUF names those ids differently: insert them as ids).
MARKER_IDS = {
    "<|fim_prefix|>": 151659,
    "<|fim_middle|>": 151660,
    "<|fim_suffix|>": 151661,
    "<|fim_pad|>": 151662,
    "<|repo_name|>": 151663,
    "<|file_sep|>": 151664,
    "<|endoftext|>": 151643,
}
_MARKER = re.compile("(" + "|".join(re.escape(m) for m in MARKER_IDS) + ")")
DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


# ---------------------------------------------------------------------------------------------- replay


@dataclass
class Replay:
    """One row replayed: the draft length of every target pass and the tokens each pass produced."""

    drafts: list[int] = field(default_factory=list)
    produced: list[int] = field(default_factory=list)

    @property
    def passes(self) -> int:
        return len(self.produced)


def replay(
    prompt: Sequence[int],
    output: Sequence[int],
    drafter: Drafter,
    k_max: int,
    policy: DraftPolicy | None = None,
    cost: Callable[[int], float] | None = None,
) -> Replay:
    """Run the engine's drafting loop over a known greedy output, without a model.

    The first token comes from the prefill; each later pass evaluates the last token plus a draft
    (at most the tokens still wanted minus one) and produces the accepted drafts plus one token.
    With `policy` (and `cost(k)`, a pass's cost in one-token passes) the draft length is the policy's.
    """
    out = list(output)
    result = Replay()
    emitted = 1
    context = list(prompt) + out[:1]
    while emitted < len(out):
        room = len(out) - emitted - 1
        k = min(k_max, room) if policy is None else policy.length(room)
        draft = drafter.draft(context, k) if k > 0 else []
        accepted = 0
        while accepted < len(draft) and draft[accepted] == out[emitted + accepted]:
            accepted += 1
        step = 1 + accepted
        context.extend(out[emitted : emitted + step])
        emitted += step
        result.drafts.append(len(draft))
        result.produced.append(step)
        if policy is not None and cost is not None:
            if draft:
                policy.record_verify(len(draft), accepted, cost(len(draft)))
            else:
                policy.record_plain(cost(0))
    return result


def tokens_per_pass(replays: Sequence[Replay]) -> float:
    passes = sum(r.passes for r in replays)
    return sum(sum(r.produced) for r in replays) / passes if passes else 0.0


def projected_speedup(replays: Sequence[Replay], ratio: dict[int, float]) -> float:
    """Plain decoding's time over drafting's: one unit per token against c(k) per pass."""
    tokens = sum(sum(r.produced) for r in replays)
    spent = sum(ratio.get(k, 1.0) if k else 1.0 for r in replays for k in r.drafts)
    return tokens / spent if spent else 0.0


def split_markers(text: str) -> list[str | int]:
    """Text pieces and marker ids, in order."""
    out: list[str | int] = []
    for piece in _MARKER.split(text):
        if piece in MARKER_IDS:
            out.append(MARKER_IDS[piece])
        elif piece:
            out.append(piece)
    return out


def tokenize_templated(text: str, tokenize: Callable[[str], list[int]]) -> list[int]:
    ids: list[int] = []
    for piece in split_markers(text):
        ids.extend([piece] if isinstance(piece, int) else tokenize(piece))
    return ids


def load_rows(data: Path, languages: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for path in sorted((data / "completebench" / "outputs").glob("*/*/*.jsonl")):
        if path.parent.name not in languages:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                row["language"] = path.parent.name
                rows.append(row)
    return rows


def tokenized_rows(
    rows: Sequence[dict[str, Any]], tokenize: Callable[[str], list[int]], n_tokens: int
) -> dict[str, list[tuple[list[int], list[int]]]]:
    """Per language, (prompt ids, first `n_tokens` output ids) of every row with at least 2 tokens."""
    by_lang: dict[str, list[tuple[list[int], list[int]]]] = defaultdict(list)
    for row in rows:
        out = tokenize(row["output"])[:n_tokens]
        if len(out) >= 2:
            by_lang[row["language"]].append((tokenize_templated(row["templated"], tokenize), out))
    return by_lang


def replay_all(
    pairs: Sequence[tuple[list[int], list[int]]],
    k_max: int,
    lookup: LookupSettings,
    ratio: dict[int, float] | None = None,
) -> list[Replay]:
    """Every row through a fresh drafter; with `ratio`, through one auto policy fed those costs."""
    policy = DraftPolicy("auto", k_max) if ratio is not None else None
    cost = (lambda k: ratio.get(k, 1.0) if k else 1.0) if ratio is not None else None
    return [replay(p, o, PromptLookupDrafter(lookup), k_max, policy, cost) for p, o in pairs]


# ------------------------------------------------------------------------------------------------ cost


def median_ratios(samples: dict[int, list[float]]) -> dict[int, float]:
    """{n tokens: [seconds per repetition]} -> {k: median over repetitions of t(k + 1) / t(1)}."""
    ones = samples[1]
    out: dict[int, float] = {}
    for n, times in sorted(samples.items()):
        if n > 1:
            out[n - 1] = statistics.median(t / t1 for t, t1 in zip(times, ones, strict=True))
    return out


def measure_costs(model: Path, depths: Sequence[int], k_max: int, reps: int, threads: int) -> dict[str, Any]:
    """Seconds of a pass of 1..k_max + 1 tokens at each depth (deepest first: one prefill serves all)."""
    import numpy as np

    from qwen_ls.engine.base import CancelToken, GenerationRequest
    from qwen_ls.engine.llama import EngineSettings, LlamaEngine

    top = max(depths)
    engine = LlamaEngine(
        model, EngineSettings(n_ctx=top + 64, n_batch=256, threads=threads, speculative="off", cache_reuse=0)
    )
    lib, ctx, mem, batch, n_vocab = engine._lib, engine._ctx, engine._mem, engine._batch, engine._n_vocab
    rng = np.random.default_rng(0)
    filler = [int(t) for t in rng.integers(1000, 100_000, size=top)]
    t0 = time.perf_counter()
    engine.generate(GenerationRequest(filler, max_tokens=0), CancelToken())
    prefill = time.perf_counter() - t0
    print(f"specdec: {model.name} prefilled {top} tokens in {prefill:.0f} s", file=sys.stderr, flush=True)

    def one_pass(depth: int, n: int) -> float:
        batch.n_tokens = n
        for j in range(n):
            batch.token[j], batch.pos[j], batch.n_seq_id[j], batch.logits[j] = filler[j], depth + j, 1, 1
            batch.seq_id[j][0] = 0
        t = time.perf_counter()
        if lib.llama_decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")
        for j in range(n):  # the verification reads every row's argmax
            np.argmax(np.ctypeslib.as_array(lib.llama_get_logits_ith(ctx, j), shape=(n_vocab,)))
        seconds = time.perf_counter() - t
        lib.llama_memory_seq_rm(mem, 0, depth, -1)
        return seconds

    by_depth: dict[str, Any] = {}
    for depth in sorted(depths, reverse=True):
        lib.llama_memory_seq_rm(mem, 0, depth, -1)
        one_pass(depth, 1)  # warm-up
        samples: dict[int, list[float]] = defaultdict(list)
        for _ in range(reps):
            for n in range(1, k_max + 2):
                samples[n].append(one_pass(depth, n))
        print(f"specdec: {model.name} costs at depth {depth} measured", file=sys.stderr, flush=True)
        by_depth[str(depth)] = {
            "one_token_ms": round(1000 * statistics.median(samples[1]), 2),
            "ratio": {k: round(v, 3) for k, v in median_ratios(samples).items()},
        }
    engine.close()
    return {"prefill_s": round(prefill, 1), "threads": threads, "depths": by_depth}


# ---------------------------------------------------------------------------------------------- report


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "specdec",
        help="speculative decoding: verification cost, real acceptance, projected and measured speed-up",
    )
    p.add_argument("--model", action="append", default=[], metavar="SHAPE=GGUF", help="e.g. 0.5b=m05.gguf")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the evaluation data folder")
    p.add_argument("--depths", default="1024,2048", help="KV depths for the cost table")
    p.add_argument("--k-max", type=int, default=8, help="longest draft measured and replayed")
    p.add_argument("--reps", type=int, default=7, help="repetitions per cost (median of ratios)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tokens", type=int, default=32, help="output tokens replayed per row (16-32)")
    p.add_argument("--languages", default="python,java,typescript,csharp")
    p.add_argument("--measure-rows", type=int, default=3, help="rows generated on the synthetic model")
    p.add_argument("--skip-cost", action="store_true", help="acceptance only (no model needed)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from qwen_ls.bench import specdec_run

    report = specdec_run.run(args)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(specdec_run.render(report))
    return 0 if report.get("ok", True) else 1
