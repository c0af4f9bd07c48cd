"""`qwen-ls bench repair`: does the repair verifier tell correct code from broken code?

A repair set is built from real programs (human-eval-infilling: the canonical HumanEval solutions;
SAFIM: Python, Java and C++ programs with their ground truth filled in) with one injected fault each
(missing colon, unbalanced bracket, misspelled name, bad indentation, missing return; seeded). For each
faulty program, the diagnostic a tool would report is handed to the repair core, which picks the
region to rewrite. Then the verifier judges candidates for that region:

- the original code (the perfect fix): the whole verification (`verify_candidate`) must accept it;
- the faulty code itself (a fix that fixes nothing): `check_fix` must reject it (the "unchanged" rule
  of `verify_candidate` would reject it trivially, so it is left out here).

Two more columns say what the verifier catches by itself: "no diag" judges the faulty code with no
diagnostic at all (only the general checks run: parse no worse, Python compiles, no new undefined
names or missing returns), and "wrong" offers a fix that repairs the fault but makes another kind of
fault in the region (which must be rejected).

Faults that do not apply to a sample (no colon to remove, indentation in a brace language, ...) are
skipped and counted. The perfect fix's minimal edit is also applied to the faulty program and must
give back the original exactly.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from qwen_ls.repair.data import Diagnostic
from qwen_ls.repair.text import split_lines

#: SAFIM's language names -> ours.
_SAFIM_LANGS = {"python": "python", "java": "java", "cpp": "cpp", "csharp": "csharp"}


@dataclass(frozen=True)
class Sample:
    source: str
    sample_id: str
    language: str
    text: str


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def load_samples(data: Path, limit: int, seed: int) -> list[Sample]:
    """Distinct whole programs per (source, language), at most `limit` each, chosen with `seed`."""
    groups: dict[tuple[str, str], dict[str, Sample]] = defaultdict(dict)
    he = data / "human-eval-infilling" / "HumanEval-SingleLineInfilling.jsonl.gz"
    if he.exists():
        for row in _jsonl(he):
            task = "/".join(row["task_id"].split("/")[1:3])  # HumanEval/N
            text = row["prompt"] + row["canonical_solution"] + row["suffix"]
            groups[("human-eval", "python")].setdefault(task, Sample("human-eval", task, "python", text))
    safim = data / "safim"
    for name in ("block_completion", "control_completion", "api_completion"):
        path = safim / f"{name}.jsonl.gz"
        if not path.exists():
            continue
        for row in _jsonl(path):
            lang = _SAFIM_LANGS.get(row["lang"], row["lang"])
            text = row["eval_prompt"].replace("{{completion}}", row["ground_truth"])
            key = hashlib.sha1(text.encode("utf-8")).hexdigest()
            groups[("safim", lang)].setdefault(key, Sample("safim", row["task_id"], lang, text))
    rng = random.Random(seed)
    out: list[Sample] = []
    for group in sorted(groups):
        items = sorted(groups[group].values(), key=lambda s: s.sample_id)
        rng.shuffle(items)
        out.extend(items[:limit])
    return out


def _rng(seed: int, *parts: str) -> random.Random:
    digest = hashlib.sha256("\0".join((str(seed), *parts)).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


# --------------------------------------------------------------------------- real compilers

_JAVA_CLASS = re.compile(r"public\s+(?:final\s+|abstract\s+)*class\s+(\w+)")
_JAVAC_ERROR = re.compile(r"^.*\.java:(\d+): error: (.*)$")
_GXX_ERROR = re.compile(r"^.*\.cpp:(\d+):(\d+): error: (.*)$")


def have_compiler(language: str) -> bool:
    return shutil.which({"java": "javac", "cpp": "g++"}.get(language, "")) is not None


def compiler_diagnostic(text: str, language: str) -> Diagnostic | str | None:
    """The first error javac or g++ reports for `text` as a diagnostic; None when it compiles; a string
    when the compiler could not be run."""
    with tempfile.TemporaryDirectory(prefix="qwen-ls-repair-") as tmp:
        folder = Path(tmp)
        if language == "java":
            m = _JAVA_CLASS.search(text)
            src = folder / f"{m.group(1) if m else 'Main'}.java"
            cmd = ["javac", "-d", str(folder / "out"), "-Xmaxerrs", "1", "-nowarn", str(src)]
        else:
            src = folder / "prog.cpp"
            cmd = ["g++", "-std=c++17", "-fsyntax-only", "-fmax-errors=1", "-Werror=return-type", str(src)]
        src.write_text(text, encoding="utf-8")
        try:
            out = subprocess.run(
                cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "LC_ALL": "C"}
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{cmd[0]} failed: {exc}"
    if out.returncode == 0:
        return None
    lines = out.stderr.splitlines()
    for i, line in enumerate(lines):
        m = _JAVAC_ERROR.match(line) if language == "java" else _GXX_ERROR.match(line)
        if not m:
            continue
        row = int(m.group(1)) - 1
        message = m.group(m.lastindex or 1)
        if language == "java":
            symbol = next((x.strip() for x in lines[i + 1 : i + 5] if x.strip().startswith("symbol:")), None)
            if symbol:
                message += "\n  " + symbol
        content = split_lines(text)[row] if row < len(split_lines(text)) else ""
        content = content.rstrip("\r\n")
        indent = len(content) - len(content.lstrip())
        return Diagnostic(row, indent, row, len(content), message, None, cmd[0], 1)
    return f"{cmd[0]} failed without a parsable error: {out.stderr[:200]}"


def _evaluate(
    sample: Any,
    kind: str,
    fault: Any,
    s: Counter[str],
    failures: list[dict[str, str]],
    seed: int,
    context_lines: int,
    max_region_lines: int,
) -> None:
    """Verification of one injected fault: the region, the original, the faulty text, a wrong fix."""
    from qwen_ls.repair.diff import apply_edits, region_edits
    from qwen_ls.repair.region import region_for
    from qwen_ls.repair.verify import check_fix, verify_candidate

    region = region_for(fault.text, fault.diagnostic, sample.language, context_lines, max_region_lines)
    grown = len(fault.replacement) - (fault.end - fault.start)
    if not (region.start <= fault.start and fault.start + len(fault.replacement) <= region.end):
        s["region_misses_fault"] += 1
        failures.append({"id": sample.sample_id, "what": "region misses the fault"})
        return
    s["region_has_fault"] += 1
    faulty_region = fault.text[region.start : region.end]
    original_region = sample.text[region.start : region.end - grown]
    # The whole verification (unchanged/deleted/echo rules included) must accept the original.
    good = verify_candidate(fault.text, region, original_region, sample.language, [fault.diagnostic])
    bad = check_fix(fault.text, region, faulty_region, sample.language, [fault.diagnostic])
    edits = region_edits(fault.text, region, original_region)
    if apply_edits(fault.text, edits) == sample.text:
        s["edit_roundtrip_ok"] += 1
    if good.accepted:
        s["accept_original"] += 1
    elif len(failures) < 5:
        failures.append({"id": sample.sample_id, "what": "original rejected", "reason": good.reason})
    if not bad.accepted:
        s["reject_faulty"] += 1
    elif len(failures) < 5:
        failures.append({"id": sample.sample_id, "what": "faulty accepted", "fault": fault.description})
    # The same without any diagnostic: what the general checks catch with no hint at all.
    if not check_fix(fault.text, region, faulty_region, sample.language, []).accepted:
        s["reject_faulty_without_diagnostic"] += 1
    _wrong_fix(sample, kind, fault, region, grown, s, seed)


def _wrong_fix(
    sample: Any, kind: str, fault: Any, region: Any, grown: int, s: Counter[str], seed: int
) -> None:
    from qwen_ls.bench import faults
    from qwen_ls.repair.verify import check_fix

    # A wrong fix: the diagnostic's fault is fixed, another kind of fault is made in the region.
    span = (region.start, region.end - grown)
    rng = _rng(seed, sample.sample_id, kind, "wrong")
    others = [k for k in faults.KINDS if k != kind]
    rng.shuffle(others)
    for other in others:
        wrong = faults.inject(other, sample.text, sample.language, rng, within=span)
        if isinstance(wrong, faults.Fault):
            grown2 = len(wrong.replacement) - (wrong.end - wrong.start)
            wrong_region = wrong.text[span[0] : span[1] + grown2]
            s["wrong_fixes"] += 1
            verdict = check_fix(fault.text, region, wrong_region, sample.language, [fault.diagnostic])
            if not verdict.accepted:
                s["reject_wrong"] += 1
            else:
                s[f"wrong_accepted:{other}"] += 1
            break


def _row(
    key: tuple[str, str, str], s: Counter[str], skip: Counter[str], failures: list[dict[str, str]]
) -> dict[str, Any]:
    n = s["region_has_fault"]
    return {
        "source": key[0],
        "language": key[1],
        "fault": key[2],
        "samples": s["samples"],
        "injected": s["faults"],
        "skipped": s["samples"] - s["faults"],
        "compiler_diagnostics": s["compiler_diagnostics"],
        "skip_reasons": dict(skip),
        "region_misses_fault": s["region_misses_fault"],
        "evaluated": n,
        "accept_original": s["accept_original"],
        "reject_faulty": s["reject_faulty"],
        "accept_original_rate": s["accept_original"] / n if n else None,
        "reject_faulty_rate": s["reject_faulty"] / n if n else None,
        "edit_roundtrip_rate": s["edit_roundtrip_ok"] / n if n else None,
        "reject_faulty_without_diagnostic_rate": s["reject_faulty_without_diagnostic"] / n if n else None,
        "wrong_fixes": s["wrong_fixes"],
        "reject_wrong_rate": s["reject_wrong"] / s["wrong_fixes"] if s["wrong_fixes"] else None,
        "wrong_fixes_accepted_by_kind": {
            k.split(":", 1)[1]: v for k, v in s.items() if k.startswith("wrong_accepted:")
        },
        "examples_of_failures": failures[:5],
    }


def run(
    data: Path, limit: int, seed: int, context_lines: int, max_region_lines: int, compilers: bool = False
) -> dict[str, Any]:
    """The report; with `compilers`, Java and C++ faults carry javac's / g++'s own first error as the
    diagnostic (programs that do not compile as given, and faults that still compile, are skipped)."""
    from qwen_ls import syntax
    from qwen_ls.bench import faults

    samples = load_samples(data, limit, seed)
    stats: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    skips: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    failures: dict[tuple[str, str, str], list[dict[str, str]]] = defaultdict(list)
    t0 = time.perf_counter()
    for sample in samples:
        use_compiler = compilers and sample.language in ("java", "cpp") and have_compiler(sample.language)
        original_error = compiler_diagnostic(sample.text, sample.language) if use_compiler else None
        for kind in faults.KINDS:
            key = (sample.source, sample.language, kind)
            s = stats[key]
            s["samples"] += 1
            if not syntax.has_grammar(sample.language):
                skips[key][f"no grammar for {sample.language}"] += 1
                continue
            if original_error is not None:
                skips[key]["the original does not compile as given"] += 1
                continue
            result = faults.inject(kind, sample.text, sample.language, _rng(seed, sample.sample_id, kind))
            if isinstance(result, faults.Skip):
                skips[key][result.reason] += 1
                continue
            if use_compiler:
                real = compiler_diagnostic(result.text, sample.language)
                if not isinstance(real, Diagnostic):
                    skips[key]["the injected fault compiles" if real is None else "the compiler failed"] += 1
                    continue
                result = replace(result, diagnostic=real)
                s["compiler_diagnostics"] += 1
            s["faults"] += 1
            _evaluate(sample, kind, result, s, failures[key], seed, context_lines, max_region_lines)
    elapsed = time.perf_counter() - t0
    rows = []
    for key in sorted(stats):
        rows.append(_row(key, stats[key], skips[key], failures[key]))
    return {
        "diagnostics": "javac/g++ for Java/C++" if compilers else "simulated",
        "seed": seed,
        "limit_per_source_language": limit,
        "context_lines": context_lines,
        "max_region_lines": max_region_lines,
        "programs": len(samples),
        "seconds": round(elapsed, 2),
        "rows": rows,
    }


def _pct(x: float | None) -> str:
    return "   -  " if x is None else f"{100 * x:5.1f}%"


def format_table(report: dict[str, Any]) -> str:
    lines = [
        f"repair verifier: {report['programs']} programs, seed {report['seed']}, "
        f"diagnostics {report.get('diagnostics', 'simulated')}, "
        f"{report['seconds']} s (region: ±{report['context_lines']} lines, ≤ {report['max_region_lines']})",
        f"{'source':<11} {'lang':<7} {'fault':<19} {'inject':>6} {'skip':>5} {'miss':>5} "
        f"{'accept orig':>11} {'reject bad':>10} {'edit ok':>8} {'no diag':>7} {'wrong':>5} {'rej wrong':>9}",
    ]
    totals: Counter[str] = Counter()
    for row in report["rows"]:
        lines.append(
            f"{row['source']:<11} {row['language']:<7} {row['fault']:<19} {row['injected']:>6} "
            f"{row['skipped']:>5} {row['region_misses_fault']:>5} {_pct(row['accept_original_rate']):>11} "
            f"{_pct(row['reject_faulty_rate']):>10} {_pct(row['edit_roundtrip_rate']):>8} "
            f"{_pct(row['reject_faulty_without_diagnostic_rate']):>7} {row['wrong_fixes']:>5} "
            f"{_pct(row['reject_wrong_rate']):>9}"
        )
        totals["evaluated"] += row["evaluated"]
        totals["accept"] += row["accept_original"]
        totals["reject"] += row["reject_faulty"]
        totals["wrong"] += row["wrong_fixes"]
        totals["reject_wrong"] += round((row["reject_wrong_rate"] or 0) * row["wrong_fixes"])
    if totals["evaluated"]:
        lines.append(
            f"overall: accept original {100 * totals['accept'] / totals['evaluated']:.1f}%, "
            f"reject faulty {100 * totals['reject'] / totals['evaluated']:.1f}% "
            f"of {totals['evaluated']} injected faults; reject wrong fixes "
            f"{100 * totals['reject_wrong'] / max(totals['wrong'], 1):.1f}% of {totals['wrong']}"
        )
    lines.append(
        "columns: inject = faults made, skip = not applicable, miss = region missed the fault, "
        "accept orig = original code accepted as the fix, reject bad = faulty code rejected, edit ok = the "
        "minimal edit restores the original exactly, no diag = faulty code rejected when no diagnostic is "
        "given, wrong/rej wrong = fixes that repair the fault but make "
        "another one in the region, and the share rejected"
    )
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "repair",
        help="measure the repair verifier on programs with injected faults",
        description="Build a repair set from human-eval-infilling and SAFIM with injected faults and report, "
        "per fault kind and language, how often the verifier accepts the original code and rejects the "
        "faulty code.",
    )
    p.add_argument(
        "--data", required=True, metavar="DIR", help="folder holding human-eval-infilling/ and safim/"
    )
    p.add_argument("--limit", type=int, default=300, help="programs per source and language (default 300)")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling and injection (default 0)")
    p.add_argument("--context-lines", type=int, default=3, help="repair.contextLines (default 3)")
    p.add_argument("--max-region-lines", type=int, default=40, help="repair.maxRegionLines (default 40)")
    p.add_argument(
        "--compilers",
        action="store_true",
        help="use javac's and g++'s own first error as the diagnostic for Java and C++ faults (slow: one "
        "compiler run per program and fault; use a small --limit)",
    )
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    data = Path(args.data)
    if not (data / "human-eval-infilling").is_dir() and not (data / "safim").is_dir():
        print(f"qwen-ls: {data} holds neither human-eval-infilling/ nor safim/", file=sys.stderr)
        return 2
    report = run(data, args.limit, args.seed, args.context_lines, args.max_region_lines, args.compilers)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_table(report))
    return 0
