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


def _repo_tasks(
    root: Path, repo: str, engine: Any, rows: list[dict[str, Any]], args: argparse.Namespace
) -> tuple[dict[str, str], dict[str, set[str]], list[Task]]:
    """The indexed repository's files, their languages and defined names, and its tasks (the cceval
    rows, then the generated ones)."""
    from qwen_ls import syntax

    files: dict[str, str] = {}
    languages: dict[str, str | None] = {}
    for key, record in engine.index.files.items():
        text = Path(key).read_text(encoding="utf-8", errors="replace")
        files[record.rel] = text
        languages[record.rel] = record.language if syntax.has_grammar(record.language) else None
    defined = {rel: defined_names(text, languages[rel]) for rel, text in files.items()}
    tasks: list[Task] = []
    for row in rows:
        rel = row["metadata"]["file"]
        chunks = [(c["filename"], c["retrieved_chunk"]) for c in row["crossfile_context"].get("list", [])]
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
    return files, defined, tasks


def _score_task(
    task: Task,
    root: Path,
    engine: Any,
    defined: dict[str, set[str]],
    bm25: CcevalBM25,
    budget: int,
    count: Callable[[str], int],
    timings: list[float],
) -> dict[str, Any] | None:
    """Retrieve for one task with the target file's text replaced by the prompt (restored after) and
    score it; None when the ground truth needs no cross-file name."""
    target = root / task.file
    others = set().union(*(names for rel, names in defined.items() if rel != task.file))
    wanted = [w for w in groundtruth_identifiers(task.groundtruth) if w in others]
    if not wanted:
        return None
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
    if original is not None:
        target.write_text(original, encoding="utf-8")
        engine.index.index_file(root, target, original)
    return item


def run_quality(args: argparse.Namespace) -> dict[str, Any]:
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
            files, defined, tasks = _repo_tasks(root, repo, engine, by_repo.get(repo, []), args)
            bm25 = CcevalBM25(files)
            for task in tasks:
                item = _score_task(task, root, engine, defined, bm25, budget, count, timings)
                if item is None:
                    continue
                results.append(item)
                if args.show:
                    print(json.dumps(item), file=sys.stderr)
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


def run(args: argparse.Namespace) -> int:
    if args.synthetic_workspace:
        from qwen_ls.bench.retrieval_synth import run_synthetic

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
