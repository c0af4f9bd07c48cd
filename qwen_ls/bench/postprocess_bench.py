"""`qwen-ls bench postprocess`: post-processing measured on real Qwen2.5-Coder raw outputs.

Data layout (granite-completebench's `web/public/samples`, see ../shared/data/completebench):
`inputs/<lang>.jsonl` (CrossCodeEval tasks: prompt, groundtruth, right_context),
`outputs/<model>/<lang>/<template>.jsonl` (raw outputs) and
`anchor_postprocessors/<model>/<lang>/<template>/<pp>.jsonl` (other post-processors, already scored).

Two scorings are reported:
- `completebench`: the scoring that produced the anchors' stored `exactMatch` / `editSimilarity`
  (comments removed with `#.*` and `//.*`; exact match compares the stripped non-empty lines; edit
  similarity is python-Levenshtein's ratio, 2·LCS/(|a|+|b|) on stripped texts, rounded to an integer).
  Recomputing it on the anchors' outputs reproduces their stored figures exactly.
- `strict`: exact match of both texts stripped at the ends, edit similarity 1 − Levenshtein/max length.

Every figure is a mean over model × language × template cells. The truncation oracle is, per row, the
best score any cut of the raw output reaches; the anchor is the best anchor post-processor per cell.
With `--humaneval DIR` (or human-eval-infilling next to --data) it also checks run-on recovery: the
canonical middle followed by the first lines of the suffix must come back as exactly the middle; with
`--safim DIR` (or safim next to --data) the same check runs on SAFIM's block, control-flow and API
completions in C++, Java, Python and C#.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qwen_ls.bench.postprocess_scoring import (  # re-exported: tests and postprocess_folds use them
    cb_edit,
    cb_exact,
    oracle,
    strict_edit,
    strict_exact,
)

ANCHORS = ("none", "truncate_suffix", "truncate_suffix_close", "truncate_expression")
GRAMMAR_LANGUAGE = {"csharp": "csharp", "typescript": "typescript", "java": "java", "python": "python"}


# --- data ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    model: str
    language: str
    template: str
    task_id: str
    prompt: str
    right_context: str
    groundtruth: str
    output: str
    file: str = ""
    anchors: dict[str, tuple[bool, float, str]] = field(default_factory=dict)


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def load_rows(data: Path) -> list[Row]:
    tasks: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((data / "inputs").glob("*.jsonl")):
        for r in _read_jsonl(path):
            tasks[(path.stem, r["metadata"]["task_id"])] = r
    rows = []
    for path in sorted((data / "outputs").glob("*/*/*.jsonl")):
        model, language, template = path.parent.parent.name, path.parent.name, path.stem
        anchors: dict[str, dict[str, tuple[bool, float, str]]] = defaultdict(dict)
        for pp in ANCHORS:
            apath = data / "anchor_postprocessors" / model / language / template / f"{pp}.jsonl"
            if apath.exists():
                for a in _read_jsonl(apath):
                    anchors[a["task_id"]][pp] = (
                        bool(a["exactMatch"]),
                        float(a["editSimilarity"]),
                        a.get("postprocessed", ""),
                    )
        for r in _read_jsonl(path):
            task = tasks[(language, r["task_id"])]
            rows.append(
                Row(
                    model,
                    language,
                    template,
                    r["task_id"],
                    task["prompt"],
                    task["right_context"],
                    task["groundtruth"],
                    r["output"],
                    task["metadata"].get("file", ""),
                    anchors.get(r["task_id"], {}),
                )
            )
    return rows


def _language_id(row: Row) -> str:
    if row.language == "typescript" and row.file.endswith(".tsx"):
        return "typescriptreact"
    return row.language


# --- running ------------------------------------------------------------------------------------------


def middle_of(text: str, replace_end: int) -> str:
    """What ends up between prefix and suffix: the completion minus the suffix characters it covers."""
    return text[: len(text) - replace_end] if replace_end else text


def _mean(values: Iterable[float]) -> float:
    vals = list(values)
    return sum(vals) / len(vals) if vals else 0.0


def stream(raw: str, ctx: Any) -> tuple[str, Any]:
    """Feed `raw` to a StreamStopper one character at a time (as a model would stream it): the text
    generated when it says stop, and its final pass over that text."""
    from qwen_ls.postprocess import StreamStopper

    stopper = StreamStopper(ctx)
    for end in range(1, len(raw) + 1):
        if not stopper.feed(raw[:end]):
            return raw[:end], stopper.finish(raw[:end])
    return raw, stopper.finish(raw)


def evaluate(rows: list[Row], dump: Any = None) -> dict[str, Any]:
    from qwen_ls.postprocess import CompletionContext, postprocess

    per_row: list[dict[str, Any]] = []
    started = time.perf_counter()
    timings = []
    stream_same = raw_chars = streamed_chars = 0
    for row in rows:
        ctx = CompletionContext(row.prompt, row.right_context, _language_id(row))
        t0 = time.perf_counter()
        out = postprocess(row.output, ctx)
        timings.append(time.perf_counter() - t0)
        streamed, final = stream(row.output, ctx)
        stream_same += (final.text, final.replace_end) == (out.text, out.replace_end)
        raw_chars += len(row.output)
        streamed_chars += len(streamed)
        pred = middle_of(out.text, out.replace_end)
        orc = oracle(row.output, row.groundtruth)
        rec: dict[str, Any] = {
            "cell": (row.model, row.language, row.template),
            "language": row.language,
            "cb_em": cb_exact(pred, row.groundtruth),
            "cb_es": cb_edit(pred, row.groundtruth),
            "strict_em": strict_exact(pred, row.groundtruth),
            "strict_es": strict_edit(pred, row.groundtruth),
            "o_cb_em": orc.cb_em,
            "o_cb_es": orc.cb_es,
            "o_strict_em": orc.strict_em,
            "o_strict_es": orc.strict_es,
            "o_cb_es_delim": orc.cb_es_delim,
            "o_strict_es_delim": orc.strict_es_delim,
            "reason": out.reason,
        }
        for pp, (em, es, text) in row.anchors.items():
            rec[f"a_cb_em:{pp}"] = em
            rec[f"a_cb_es:{pp}"] = es
            rec[f"a_strict_em:{pp}"] = strict_exact(text, row.groundtruth)
            rec[f"a_strict_es:{pp}"] = strict_edit(text, row.groundtruth)
        per_row.append(rec)
        if dump is not None:
            dump.write(
                json.dumps(
                    {
                        "task_id": row.task_id,
                        "model": row.model,
                        "language": row.language,
                        "template": row.template,
                        "postprocessed": pred,
                        "text": out.text,
                        "replace_end": out.replace_end,
                        "reason": out.reason,
                        "groundtruth": row.groundtruth,
                        "output": row.output,
                        "exact_match": rec["cb_em"],
                        "edit_similarity": rec["cb_es"],
                        "oracle_exact_match": orc.cb_em,
                    }
                )
                + "\n"
            )
    elapsed = time.perf_counter() - started
    result = _summarize(per_row)
    result["by_language"] = {
        lang: _summarize([r for r in per_row if r["language"] == lang])
        for lang in sorted({r["language"] for r in per_row})
    }
    timings.sort()
    result["postprocess_ms_median"] = round(1000 * timings[len(timings) // 2], 3) if timings else 0.0
    result["postprocess_ms_p95"] = round(1000 * timings[int(len(timings) * 0.95)], 3) if timings else 0.0
    result["stream"] = {
        "same_as_final": stream_same,
        "rows": len(rows),
        "raw_chars_not_needed_pct": round(100.0 * (raw_chars - streamed_chars) / max(raw_chars, 1), 1),
    }
    result["seconds"] = round(elapsed, 1)
    return result


def _summarize(per_row: list[dict[str, Any]]) -> dict[str, Any]:
    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in per_row:
        cells[r["cell"]].append(r)

    def cell_mean(key: str, scale: float = 1.0) -> float:
        return round(_mean(_mean(scale * float(r[key]) for r in rs) for rs in cells.values()), 2)

    def best_anchor(metric: str, scale: float = 1.0) -> float:
        means = []
        for rs in cells.values():
            options = [
                _mean(scale * float(r[f"{metric}:{pp}"]) for r in rs)
                for pp in ANCHORS
                if f"{metric}:{pp}" in rs[0]
            ]
            means.append(max(options) if options else 0.0)
        return round(_mean(means), 2)

    def single_anchor(metric: str, pp: str, scale: float = 1.0) -> float:
        return round(
            _mean(_mean(scale * float(r.get(f"{metric}:{pp}", 0.0)) for r in rs) for rs in cells.values()), 2
        )

    out: dict[str, Any] = {
        "n": len(per_row),
        "cells": len(cells),
        "exact_match": cell_mean("cb_em", 100),
        "edit_similarity": cell_mean("cb_es"),
        "anchor_best_exact_match": best_anchor("a_cb_em", 100),
        "anchor_best_edit_similarity": best_anchor("a_cb_es"),
        "oracle_exact_match": cell_mean("o_cb_em", 100),
        "oracle_edit_similarity": cell_mean("o_cb_es"),
        "oracle_edit_similarity_delimiters": cell_mean("o_cb_es_delim"),
        "anchors": {
            pp: {
                "exact_match": single_anchor("a_cb_em", pp, 100),
                "edit_similarity": single_anchor("a_cb_es", pp),
            }
            for pp in ANCHORS
        },
        "strict": {
            "exact_match": cell_mean("strict_em", 100),
            "edit_similarity": cell_mean("strict_es"),
            "anchor_best_exact_match": best_anchor("a_strict_em", 100),
            "anchor_best_edit_similarity": best_anchor("a_strict_es"),
            "oracle_exact_match": cell_mean("o_strict_em", 100),
            "oracle_edit_similarity": cell_mean("o_strict_es"),
            "oracle_edit_similarity_delimiters": cell_mean("o_strict_es_delim"),
        },
    }
    reasons: dict[str, int] = defaultdict(int)
    for r in per_row:
        reasons[r["reason"] or "-"] += 1
    out["reasons"] = dict(sorted(reasons.items()))
    return out


# --- human-eval-infilling run-on recovery -------------------------------------------------------------


def runon_recovery(directory: Path, lines: int = 3, limit: int = 0) -> dict[str, Any]:
    """Feed canonical middle + the first `lines` lines of the suffix; count exact recoveries."""
    from qwen_ls.postprocess import CompletionContext, postprocess

    out: dict[str, Any] = {}
    for kind, name in (
        ("single_line", "HumanEval-SingleLineInfilling.jsonl.gz"),
        ("multi_line", "HumanEval-MultiLineInfilling.jsonl.gz"),
    ):
        path = directory / name
        if not path.exists():
            continue
        ok = total = 0
        failures: list[str] = []
        for r in _read_jsonl(path):
            if limit and total >= limit:
                break
            middle, suffix = r["canonical_solution"], r["suffix"]
            runon = "".join(suffix.splitlines(keepends=True)[:lines])
            got = postprocess(middle + runon, CompletionContext(r["prompt"], suffix, "python"))
            total += 1
            if recovered(got.text, got.replace_end, middle, suffix):
                ok += 1
            elif len(failures) < 5:
                failures.append(r["task_id"])
        out[kind] = {
            "recovered": ok,
            "total": total,
            "rate": round(100.0 * ok / total, 2) if total else 0.0,
            "first_failures": failures,
        }
    return out


def safim_recovery(directory: Path, lines: int = 3, step: int = 1) -> dict[str, Any]:
    """The same run-on check on SAFIM (block, control-flow and API completions in several languages):
    ground truth followed by the first `lines` lines after it must come back as the ground truth."""
    from qwen_ls.postprocess import CompletionContext, postprocess

    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for kind in ("block", "control", "api"):
        path = directory / f"{kind}_completion.jsonl.gz"
        if not path.exists():
            continue
        for i, r in enumerate(_read_jsonl(path)):
            if i % step or "{{completion}}" not in r["eval_prompt"]:
                continue
            prefix, suffix = r["eval_prompt"].split("{{completion}}", 1)
            truth = r["ground_truth"]
            runon = "".join(suffix.splitlines(keepends=True)[:lines])
            got = postprocess(truth + runon, CompletionContext(prefix, suffix, r["lang"]))
            t = totals[f"{kind}/{r['lang']}"]
            t[1] += 1
            t[0] += recovered(got.text, got.replace_end, truth, suffix)
    return {
        key: {"recovered": ok, "total": total, "rate": round(100.0 * ok / total, 2)}
        for key, (ok, total) in sorted(totals.items())
        if total
    }


def recovered(text: str, replace_end: int, middle: str, suffix: str) -> bool:
    """The completion reproduces the middle: same document, up to trailing whitespace of the middle."""
    got = middle_of(text, replace_end) if suffix.startswith(text[len(text) - replace_end :]) else text
    return (
        got.rstrip() == middle.rstrip()
        and got[: len(got) - len(got.lstrip())] == middle[: len(middle) - len(middle.lstrip())]
    )


# --- CLI ------------------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "postprocess",
        help="score post-processing on real raw outputs (completebench layout)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, required=True, help="folder in the completebench layout")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--dump", type=Path, help="write one JSON line per row with the post-processed text")
    p.add_argument("--humaneval", type=Path, help="human-eval-infilling folder (default: next to --data)")
    p.add_argument("--runon-lines", type=int, default=3, help="suffix lines appended in the run-on check")
    p.add_argument("--humaneval-limit", type=int, default=0, help="only the first N tasks of each set")
    p.add_argument(
        "--safim",
        type=Path,
        help="SAFIM folder for the multi-language run-on check (default: next to --data)",
    )
    p.add_argument(
        "--safim-step", type=int, default=5, help="check every Nth SAFIM task (default 5; 1 = all)"
    )
    p.add_argument(
        "--folds",
        type=int,
        default=0,
        help="also score out of fold: K folds by task id, rule choices made on the other K-1 folds",
    )
    p.add_argument("--fold-seed", type=int, default=0, help="seed for dealing tasks into folds")
    p.add_argument(
        "--units",
        type=Path,
        action="append",
        default=[],
        help="source tree (folder, .zip, .tar.gz) for the decorated-declaration run-on check; repeatable",
    )
    p.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    data: Path = args.data
    if not (data / "inputs").is_dir() or not (data / "outputs").is_dir():
        print(f"{data}: not a completebench folder (needs inputs/ and outputs/)", file=sys.stderr)
        return 2
    rows = load_rows(data)
    if args.dump:
        with args.dump.open("w", encoding="utf-8") as dump:
            result = evaluate(rows, dump)
    else:
        result = evaluate(rows)
    if args.folds:
        from qwen_ls.bench import postprocess_folds

        if args.folds < 2:
            print("--folds needs at least 2", file=sys.stderr)
            return 2
        scored = postprocess_folds.score_rows(rows)
        result["out_of_fold"] = postprocess_folds.cross_validate(scored, args.folds, args.fold_seed)
    he_dir = args.humaneval or (data.parent / "human-eval-infilling")
    if he_dir.is_dir():
        result["humaneval_runon"] = runon_recovery(he_dir, args.runon_lines, args.humaneval_limit)
    safim_dir = args.safim or (data.parent / "safim")
    if safim_dir.is_dir():
        result["safim_runon"] = safim_recovery(safim_dir, args.runon_lines, max(1, args.safim_step))
    if args.units:
        from qwen_ls.bench.postprocess_units import unit_recovery

        result["unit_runon"] = unit_recovery(args.units, args.runon_lines)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_report(result))
    return 0


def format_report(result: dict[str, Any]) -> str:
    lines = [
        f"post-processing on {result['n']} rows, {result['cells']} cells (mean over cells); "
        f"postprocess median {result['postprocess_ms_median']} ms, p95 {result['postprocess_ms_p95']} ms"
    ]
    header = (
        f"{'':12}{'ours':>8}{'anchor*':>9}{'oracle':>8}   "
        f"{'ours':>7}{'anchor*':>9}{'oracle':>8}{'oracle@delim':>14}"
    )
    for scoring, get in (("completebench scoring", lambda r: r), ("strict scoring", lambda r: r["strict"])):
        lines.append("")
        lines.append(f"{scoring}: exact match | edit similarity")
        lines.append(header)
        for name, r in [("all", result), *result["by_language"].items()]:
            s = get(r)
            lines.append(
                f"{name:12}{s['exact_match']:8.2f}{s['anchor_best_exact_match']:9.2f}"
                f"{s['oracle_exact_match']:8.2f}   {s['edit_similarity']:7.2f}"
                f"{s['anchor_best_edit_similarity']:9.2f}{s['oracle_edit_similarity']:8.2f}"
                f"{s['oracle_edit_similarity_delimiters']:14.2f}"
            )
    lines.append(
        "(anchor* = best anchor post-processor per model x language x template cell; "
        "oracle = best cut anywhere, oracle@delim = best cut right after a non-word character)"
    )
    lines.append(
        "single anchors (completebench scoring): "
        + ", ".join(
            f"{pp} {v['exact_match']:.2f}/{v['edit_similarity']:.2f}" for pp, v in result["anchors"].items()
        )
    )
    lines.append("outcomes: " + ", ".join(f"{k} {v}" for k, v in result["reasons"].items()))
    st = result["stream"]
    lines.append(
        f"streaming: the stopper's result equals the final pass on {st['same_as_final']}/{st['rows']} rows; "
        f"{st['raw_chars_not_needed_pct']}% of the raw characters came after it said stop"
    )
    he = result.get("humaneval_runon")
    if he:
        lines.append(
            "human-eval-infilling run-on recovery: "
            + ", ".join(f"{k} {v['recovered']}/{v['total']} = {v['rate']:.2f}%" for k, v in he.items())
        )
    sf = result.get("safim_runon")
    if sf:
        lines.append(
            "SAFIM run-on recovery: " + ", ".join(f"{k} {v['recovered']}/{v['total']}" for k, v in sf.items())
        )
    units = result.get("unit_runon")
    if units:
        lines.append(
            "decorated-declaration run-on recovery: "
            + ", ".join(f"{k} {v['recovered']}/{v['total']}" for k, v in units.items())
        )
    if "out_of_fold" in result:
        from qwen_ls.bench.postprocess_folds import format_folds

        lines.append("")
        lines.append(format_folds(result["out_of_fold"]))
    lines.append("")
    lines.append("targets (issue 4):")
    lines.extend(f"  {'met    ' if ok else 'NOT met'} {what}" for what, ok in targets(result))
    return "\n".join(lines)


def targets(result: dict[str, Any]) -> list[tuple[str, bool]]:
    """The issue's targets, checked under both scorings."""
    out = []
    for name, s, langs in (
        ("completebench", result, {k: v for k, v in result["by_language"].items()}),
        ("strict", result["strict"], {k: v["strict"] for k, v in result["by_language"].items()}),
    ):
        gap_em = s["oracle_exact_match"] - s["exact_match"]
        gap_es = s["oracle_edit_similarity"] - s["edit_similarity"]
        gap_es_d = s["oracle_edit_similarity_delimiters"] - s["edit_similarity"]
        out.append((f"{name}: exact match within 0.3 of the oracle (gap {gap_em:.2f})", gap_em <= 0.3))
        out.append(
            (
                f"{name}: edit similarity within 1.5 of the oracle (gap {gap_es:.2f}; "
                f"{gap_es_d:.2f} to oracle@delim)",
                gap_es <= 1.5,
            )
        )
        for lang, v in langs.items():
            em_ok = v["exact_match"] >= v["anchor_best_exact_match"]
            es_ok = v["edit_similarity"] > v["anchor_best_edit_similarity"]
            out.append(
                (
                    f"{name}/{lang}: exact match {v['exact_match']:.2f} >= best anchor "
                    f"{v['anchor_best_exact_match']:.2f}, edit similarity {v['edit_similarity']:.2f} > "
                    f"{v['anchor_best_edit_similarity']:.2f}",
                    em_ok and es_ok,
                )
            )
    he = result.get("humaneval_runon")
    if he:
        for kind, floor in (("single_line", 95.0), ("multi_line", 85.0)):
            if kind in he:
                out.append(
                    (
                        f"run-on recovery {kind} {he[kind]['rate']:.2f}% >= {floor:.0f}%",
                        he[kind]["rate"] >= floor,
                    )
                )
    return out
