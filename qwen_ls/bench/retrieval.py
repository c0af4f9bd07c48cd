"""`qwen-ls bench retrieval`: how much of what the next line needs from other files the context finds.

For each task (cceval rows in `examples.jsonl`, plus tasks generated from the same repositories):
unpack the repository, replace the target file's text with the task's `prompt` (nothing after the
cursor leaks in), retrieve context for the cursor at the end of the prompt within N tokens, and score
cross-file identifier recall: of the identifiers in `groundtruth` that are defined in other files of
the repository, the share that appear in the retrieved text.

Anchors: cceval's own `crossfile_context` cut to the same N tokens (for the cceval rows), and a
re-implementation of cceval's retriever (BM25 over 10-line windows, the last 10 prompt lines as the
query) for every task, generated ones and other languages included.

Generated tasks: in each repository file, lines whose point is the first use in that file of a name
defined in another file (the cursor goes right before that name). Chosen by a fixed-seed hash, a few
per file and per repository, so no figure rests on the 20 rows.

`--synthetic-workspace` instead generates a 2,000-file workspace and reports index build time, index
memory and retrieve p50/p95, plus how often the context part stays the same while typing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import statistics
import sys
import tarfile
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "retrieval",
        help="cross-file identifier recall of the repository context (cceval layout), or index timings",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, help="a folder with examples.jsonl and repos/<repository>.tar.gz")
    p.add_argument("--budget", type=int, default=1024, help="context tokens per task (default 1024)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--model",
        "--vocab",
        dest="vocab",
        metavar="GGUF",
        help="GGUF (vocab-only is enough) for exact token counts",
    )
    p.add_argument(
        "--generated", type=int, default=40, help="generated tasks per repository (default 40; 0: none)"
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the generated-task choice")
    p.add_argument("--limit", type=int, default=0, help="use only the first N repositories (0: all)")
    p.add_argument("--show", action="store_true", help="print each task's figures to stderr")
    p.add_argument(
        "--synthetic-workspace",
        action="store_true",
        help="generate a synthetic workspace and report index build time, memory and retrieve latency",
    )
    p.add_argument("--files", type=int, default=2000, help="files of the synthetic workspace (default 2000)")
    p.add_argument("--requests", type=int, default=300, help="retrieve calls to time (default 300)")
    p.set_defaults(func=run)


# ---------------------------------------------------------------------------------------------- scoring


def groundtruth_identifiers(groundtruth: str) -> list[str]:
    out: list[str] = []
    for word in _IDENT.findall(groundtruth):
        if word not in out:
            out.append(word)
    return out


def recall(targets: list[str], retrieved: str) -> float:
    found = sum(1 for t in targets if re.search(rf"(?<![\w$]){re.escape(t)}(?![\w$])", retrieved))
    return found / len(targets)


_PY_DEF = re.compile(
    r"^[ \t]*(?:async[ \t]+)?def[ \t]+(\w+)|^[ \t]*class[ \t]+(\w+)|^(\w+)[ \t]*(?::[^=\n]+)?=[^=]"
    r"|^[ \t]+(\w+)[ \t]*:[ \t]*[\w.\[\], |]+[ \t]*(?:=[^=\n]*)?$|self\.(\w+)[ \t]*(?::[^=\n]+)?=[^=]",
    re.MULTILINE,
)


def defined_names(text: str, language: str | None) -> set[str]:
    """Names a file defines, for the scorer: tree-sitter definitions plus, for Python, a plain regex
    reading (so the score does not rest on the retriever's own symbol table alone)."""
    from qwen_ls.context.symbols import KEYWORDS, definitions

    names = {d.name for d in definitions(text, language)}
    if language == "python":
        for m in _PY_DEF.finditer(text):
            names.update(g for g in m.groups() if g)
    return names - KEYWORDS


# ---------------------------------------------------------------------------------------------- anchors


def pack_chunks(chunks: list[tuple[str, str]], budget: int, count: Callable[[str], int]) -> tuple[str, int]:
    """Chunks (filename, text) in order, each as `<|file_sep|>name\\n{text}\\n`, cut to `budget`."""
    used = 0
    parts: list[str] = []
    for name, text in chunks:
        cost = 1 + count(f"{name}\n{text}\n")
        if used + cost <= budget:
            parts.append(text)
            used += cost
            continue
        lines = text.split("\n")
        while lines and used + 1 + count(f"{name}\n" + "\n".join(lines) + "\n") > budget:
            lines.pop()
        if lines:
            parts.append("\n".join(lines))
            used += 1 + count(f"{name}\n" + "\n".join(lines) + "\n")
        break
    return "\n".join(parts), used


class CcevalBM25:
    """cceval's retriever, re-implemented: BM25 over 10-line windows (stride 5) of the other files,
    queried with the last 10 lines of the prompt; best 5 chunks, best first."""

    def __init__(self, files: dict[str, str]) -> None:
        self.windows: list[tuple[str, str, Counter[str]]] = []
        for rel, text in files.items():
            lines = text.split("\n")
            for start in range(0, max(1, len(lines) - 5), 5):
                chunk = "\n".join(lines[start : start + 10])
                toks = Counter(_IDENT.findall(chunk))
                if toks:
                    self.windows.append((rel, chunk, toks))
        self.df: Counter[str] = Counter()
        for _, _, toks in self.windows:
            self.df.update(toks.keys())
        self.avg = sum(sum(t.values()) for _, _, t in self.windows) / max(1, len(self.windows))

    def top(self, prompt: str, exclude: str, k: int = 5) -> list[tuple[str, str]]:
        query = _IDENT.findall("\n".join(prompt.split("\n")[-10:]))
        n = len(self.windows)
        scored: list[tuple[float, int]] = []
        for i, (rel, _, toks) in enumerate(self.windows):
            if rel == exclude:
                continue
            length = sum(toks.values())
            s = 0.0
            for q in set(query):
                tf = toks.get(q, 0)
                if tf:
                    idf = math.log(1 + (n - self.df[q] + 0.5) / (self.df[q] + 0.5))
                    s += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / self.avg))
            if s > 0:
                scored.append((s, i))
        scored.sort(key=lambda x: -x[0])
        return [(self.windows[i][0], self.windows[i][1]) for _, i in scored[:k]]


# ---------------------------------------------------------------------------------------------- tasks


@dataclass
class Task:
    task_id: str
    repository: str
    file: str  # path inside the repository
    prompt: str
    groundtruth: str
    anchor: list[tuple[str, str]] | None  # cceval's crossfile_context chunks (cceval rows only)
    generated: bool
    language: str | None


def _strip_strings_and_comments(line: str, language: str | None) -> str:
    marker = "#" if language == "python" else "//"
    if marker in line:
        line = line.split(marker, 1)[0]
    return re.sub(r"'[^']*'|\"[^\"]*\"", lambda m: " " * len(m.group(0)), line)


def _block_comment_lines(lines: list[str], language: str | None) -> list[bool]:
    """Per line, whether it is inside (or starts) a block comment or a Python docstring."""
    out: list[bool] = []
    open_: str | None = None
    for line in lines:
        stripped = line.strip()
        if open_ is not None:
            out.append(True)
            if open_ in stripped:
                open_ = None
            continue
        if language == "python":
            quote = next((q for q in ('"""', "'''") if stripped.startswith((q, "r" + q))), None)
            if quote is not None:
                out.append(True)
                if stripped.lstrip("r").count(quote) < 2:
                    open_ = quote
                continue
        elif stripped.startswith("/*"):
            out.append(True)
            if "*/" not in stripped[2:]:
                open_ = "*/"
            continue
        out.append(False)
    return out


def _inside_import(before: str, language: str | None) -> bool:
    """True when the text before a line ends inside a multi-line import/export list."""
    if language == "python":
        stmt = before[before.rfind("\nfrom ") + 1 :] if "\nfrom " in before else ""
        return bool(stmt) and "(" in stmt and ")" not in stmt
    stmt = before[max(before.rfind(";"), before.rfind("}\n")) + 1 :]
    return bool(re.match(r"\s*(import|export)\b[^;]*\{[^}]*$", stmt))


def generate_tasks(
    repo_dir: Path,
    files: dict[str, str],
    languages: dict[str, str | None],
    defined: dict[str, set[str]],
    per_repo: int,
    seed: int,
) -> list[Task]:
    """Lines whose point is the first use in their file of a name defined in another file."""
    if per_repo <= 0:
        return []
    owners: dict[str, set[str]] = defaultdict(set)
    for rel, names in defined.items():
        for name in names:
            owners[name].add(rel)
    candidates: list[tuple[str, Task]] = []
    for rel, text in files.items():
        language = languages.get(rel)
        if language is None:
            continue
        own = defined.get(rel, set())
        seen: set[str] = set()
        offset = 0
        per_file: list[tuple[str, Task]] = []
        lines = text.split("\n")
        in_comment = _block_comment_lines(lines, language)
        for ln, line in enumerate(lines):
            stripped = line.strip()
            if in_comment[ln]:  # documentation is not code to complete
                offset += len(line) + 1
                continue
            code = _strip_strings_and_comments(line, language)
            words = list(_IDENT.finditer(code))
            is_import = bool(
                re.match(
                    r"(import|from|#\s*include|(pub(\([\w:]+\))?\s+)?use|extern\s+crate|package|using"
                    r"|export\s*(\*|\{|type\s*\{))",
                    stripped,
                )
            )
            is_import = is_import or _inside_import(text[:offset], language)
            is_import = is_import or bool(re.search(r"\b(require|import)\s*\(", stripped))
            if not is_import and stripped and len(stripped) >= 8:
                for m in words:
                    name = m.group(0)
                    if name in seen or name in own or len(name) < 3:
                        continue
                    others = owners.get(name, set()) - {rel}
                    if not others or len(others) > 6:
                        continue
                    cut = offset + m.start()
                    truth = line[m.start() :]
                    key = hashlib.sha1(f"{seed}:{rel}:{ln}:{name}".encode()).hexdigest()
                    per_file.append(
                        (
                            key,
                            Task(
                                f"gen/{repo_dir.name}/{rel}:{ln + 1}",
                                repo_dir.name,
                                rel,
                                text[:cut],
                                truth,
                                None,
                                True,
                                language,
                            ),
                        )
                    )
                    break
            if not is_import:  # an imported name's first use after its import is a good point
                seen.update(m.group(0) for m in words)
            offset += len(line) + 1
        per_file.sort(key=lambda kt: kt[0])
        candidates += per_file[:2]
    candidates.sort(key=lambda kt: kt[0])
    return [t for _, t in candidates[:per_repo]]


def _extract(tarball: Path, dest: Path) -> Path:
    with tarfile.open(tarball) as tf:
        try:
            tf.extractall(dest, filter="data")
        except TypeError:  # Python < 3.12
            tf.extractall(dest)
    entries = [p for p in dest.iterdir() if p.is_dir()]
    return entries[0] if len(entries) == 1 else dest


# ---------------------------------------------------------------------------------------------- runner


def _counter(vocab: str | None) -> tuple[Callable[[str], int], str]:
    from qwen_ls.context.tokens import load_counter

    default = Path(__file__).resolve().parents[3] / "shared/data/qwen2-vocab/ggml-vocab-qwen2.gguf"
    if not vocab and default.is_file():
        vocab = str(default)
    return load_counter(vocab)


def run_quality(args: argparse.Namespace) -> dict[str, Any]:
    from qwen_ls import syntax
    from qwen_ls.context import ContextEngine, ContextSettings

    data: Path = args.data
    rows = [json.loads(line) for line in (data / "examples.jsonl").read_text().splitlines() if line.strip()]
    by_repo: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_repo[row["metadata"]["repository"]].append(row)
    repos = sorted(p.name[: -len(".tar.gz")] for p in (data / "repos").glob("*.tar.gz"))
    if args.limit:
        repos = repos[: args.limit]
    count, token_label = _counter(args.vocab)
    budget = args.budget
    results: list[dict[str, Any]] = []
    timings: list[float] = []
    for repo in repos:
        with tempfile.TemporaryDirectory(prefix="qwen-ls-bench-") as tmp:
            root = _extract(data / "repos" / f"{repo}.tar.gz", Path(tmp))
            engine = ContextEngine(ContextSettings(), count)
            engine.set_roots([root])
            engine.build_index()
            files: dict[str, str] = {}
            languages: dict[str, str | None] = {}
            for key, record in engine.index.files.items():
                text = Path(key).read_text(encoding="utf-8", errors="replace")
                files[record.rel] = text
                languages[record.rel] = record.language if syntax.has_grammar(record.language) else None
            defined = {rel: defined_names(text, languages[rel]) for rel, text in files.items()}
            bm25 = CcevalBM25(files)
            tasks: list[Task] = []
            for row in by_repo.get(repo, []):
                rel = row["metadata"]["file"]
                chunks = [
                    (c["filename"], c["retrieved_chunk"]) for c in row["crossfile_context"].get("list", [])
                ]
                tasks.append(
                    Task(
                        row["metadata"]["task_id"],
                        repo,
                        rel,
                        row["prompt"],
                        row["groundtruth"],
                        chunks,
                        False,
                        languages.get(rel) or syntax.language_for_path(rel),
                    )
                )
            tasks += generate_tasks(root, files, languages, defined, args.generated, args.seed)
            for task in tasks:
                target = root / task.file
                others = set().union(*(names for rel, names in defined.items() if rel != task.file))
                wanted = [w for w in groundtruth_identifiers(task.groundtruth) if w in others]
                if not wanted:
                    continue
                original = target.read_text(encoding="utf-8", errors="replace") if target.is_file() else None
                target.write_text(task.prompt, encoding="utf-8")
                engine.reset_state()
                engine.index.index_file(root, target, task.prompt)
                t0 = time.perf_counter()
                res = engine.retrieve(
                    target,
                    task.prompt,
                    len(task.prompt),
                    budget,
                    window=(max(0, len(task.prompt) - 6000), len(task.prompt)),
                )
                timings.append((time.perf_counter() - t0) * 1000)
                retrieved = "\n".join(s.text for s in res.snippets)
                own = recall(wanted, retrieved)
                bm_text, _ = pack_chunks(bm25.top(task.prompt, task.file), budget, count)
                item: dict[str, Any] = {
                    "task_id": task.task_id,
                    "language": task.language,
                    "generated": task.generated,
                    "wanted": wanted,
                    "recall": own,
                    "bm25_anchor_recall": recall(wanted, bm_text),
                    "used": res.used,
                    "sources": sorted({s.source for s in res.snippets}),
                }
                if task.anchor is not None:
                    anchor_text, _ = pack_chunks(task.anchor, budget, count)
                    item["anchor_recall"] = recall(wanted, anchor_text)
                results.append(item)
                if args.show:
                    print(json.dumps(item), file=sys.stderr)
                if original is not None:
                    target.write_text(original, encoding="utf-8")
                    engine.index.index_file(root, target, original)
    return summarize(results, budget, token_label, timings)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summarize(
    results: list[dict[str, Any]], budget: int, token_label: str, timings: list[float]
) -> dict[str, Any]:
    cceval = [r for r in results if not r["generated"]]
    generated = [r for r in results if r["generated"]]
    per_language: dict[str, dict[str, Any]] = {}
    for lang in sorted({r["language"] or "?" for r in results}):
        rows = [r for r in results if (r["language"] or "?") == lang]
        per_language[lang] = {
            "n_tasks": len(rows),
            "recall": _mean([r["recall"] for r in rows]),
            "bm25_anchor_recall": _mean([r["bm25_anchor_recall"] for r in rows]),
        }
    return {
        "budget": budget,
        "tokens": token_label,
        # the cceval rows, against cceval's own chunks
        "n_tasks": len(cceval),
        "recall": _mean([r["recall"] for r in cceval]),
        "anchor_recall": _mean([r["anchor_recall"] for r in cceval]),
        # generated rows (and all rows), against the re-implemented cceval retriever
        "n_generated": len(generated),
        "generated_recall": _mean([r["recall"] for r in generated]),
        "generated_bm25_anchor_recall": _mean([r["bm25_anchor_recall"] for r in generated]),
        "n_all": len(results),
        "all_recall": _mean([r["recall"] for r in results]),
        "all_bm25_anchor_recall": _mean([r["bm25_anchor_recall"] for r in results]),
        "cceval_bm25_anchor_recall": _mean([r["bm25_anchor_recall"] for r in cceval]),
        "per_language": per_language,
        "retrieve_ms_p50": round(statistics.median(timings), 2) if timings else None,
        "retrieve_ms_p95": round(sorted(timings)[int(0.95 * (len(timings) - 1))], 2) if timings else None,
    }


# ---------------------------------------------------------------------------------------------- synthetic


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


def run_synthetic(args: argparse.Namespace) -> dict[str, Any]:
    import gc
    import tracemalloc

    from qwen_ls.context import ContextEngine, ContextSettings

    count, token_label = _counter(args.vocab)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="qwen-ls-synth-") as tmp:
        root = Path(tmp)
        paths = make_synthetic_workspace(root, args.files)
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
        cold: list[float] = []
        for _ in range(args.requests):
            path = rng.choice(paths)
            text = path.read_text(encoding="utf-8")
            lines = text.split("\n")
            ln = rng.randrange(len(lines) // 3, len(lines))
            offset = sum(len(x) + 1 for x in lines[:ln]) + len(lines[ln]) // 2
            engine.reset_state()
            t1 = time.perf_counter()
            engine.retrieve(path, text, offset, args.budget, window=(max(0, offset - 4000), offset))
            cold.append((time.perf_counter() - t1) * 1000)
        # typing in one place: one character a keystroke along a new line, in 20 files
        engine.reset_state()
        before = dict(engine.counters)
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
                    args.budget,
                    window=(max(0, insert_at - 4000), insert_at + k),
                )
                typing.append((time.perf_counter() - t1) * 1000)
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


def run(args: argparse.Namespace) -> int:
    if args.synthetic_workspace:
        report = run_synthetic(args)
    else:
        if args.data is None or not (args.data / "examples.jsonl").is_file():
            print(
                "qwen-ls: error: --data must be a folder with examples.jsonl and repos/ "
                "(fix: e.g. --data ../shared/data/cceval-python)",
                file=sys.stderr,
            )
            return 1
        report = run_quality(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            if isinstance(value, dict):
                print(f"{key}:")
                for k, v in value.items():
                    print(f"  {k}: {v}")
            else:
                print(f"{key}: {value}")
    return 0
