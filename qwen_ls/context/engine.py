"""The context engine: asks every context source for candidate snippets, ranks them and packs them into
a token budget, keeping the prompt order stable across keystrokes so the KV cache survives.

The sources (`sources/`, one module each, each switchable) are: the module or type a member access
before the cursor goes through (`anims.` -> an outline of `animations.py`), the class of a C++
out-of-line method, definitions of identifiers near the cursor, same-package types named like the code
there, outlines of imported files, BM25-similar chunks of the workspace (open documents among them),
the package's other files, and recently edited / completed-at regions. Ranking and packing are in
`packing.py`, the stability rule in `stability.py`; this module keeps the workspace state current
(documents, index, recent edits) and runs a retrieval: query -> sources -> pack -> stable order.

Stability: while the cursor stays in the same region and the identifiers around it do not change
much, the previous selection is returned as is. When a re-rank happens, snippets that survive keep
their previous relative order and new ones are appended after them; counters say how often the
context part of the prompt stayed the same (or grew only at its end).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

from qwen_ls import syntax
from qwen_ls.context.ignore import PathFilter, contains_secret
from qwen_ls.context.index import CONFIG_FILES, WorkspaceIndex
from qwen_ls.context.packing import Packer
from qwen_ls.context.settings import ContextSettings
from qwen_ls.context.sources import (
    Candidate,
    ContextSource,
    OpenDoc,
    Workspace,
    build_query,
    default_sources,
)
from qwen_ls.context.stability import Selection, can_keep, near_terms, stable_order
from qwen_ls.context.symbols import file_language
from qwen_ls.context.types import ContextResult, Snippet

log = logging.getLogger(__name__)


class ContextEngine:
    """Repository context for one workspace (possibly multi-root). All methods are thread-safe."""

    def __init__(
        self,
        settings: ContextSettings,
        count_tokens: Callable[[str], int],
        sources: Callable[[Workspace], Sequence[ContextSource]] = default_sources,
    ) -> None:
        """`sources` makes the context sources for the engine's workspace (tests plug their own in)."""
        self.settings = settings
        self._count = count_tokens
        self._lock = threading.RLock()
        self._roots: list[Path] = []
        self._filter = PathFilter([], settings.exclude, settings.secret_patterns, settings.use_gitignore)
        # what the sources read: the index (replaced when the roots change), open documents, recent spots
        self._ws = Workspace(settings, self._new_index())
        self._sources: tuple[ContextSource, ...] = tuple(sources(self._ws))
        self._packer = Packer(settings, self.count_tokens, self.snippet_tokens, self._rel_key)
        self._last: dict[str, Selection] = {}
        self._pending_disk: set[str] = set()
        self._token_cache: OrderedDict[str, int] = OrderedDict()
        self._ready = False
        self._closed = False
        self._repo_names: dict[str, str] = {}
        self.counters: dict[str, int] = {
            "requests": 0,
            "kept": 0,  # previous selection returned as is
            "reranked": 0,
            "identical": 0,  # context part identical to the previous request's (kept or re-ranked)
            "extended": 0,  # previous context part is a strict prefix of the new one
        }

    def _new_index(self) -> WorkspaceIndex:
        s = self.settings
        return WorkspaceIndex(
            self._filter,
            max(1, s.max_files),
            max(1024, s.max_file_bytes),
            max(4, s.chunk_lines),
            max(1024, s.max_total_bytes),
        )

    # ------------------------------------------------------------------------------------ workspace

    def set_roots(self, roots: Sequence[Path]) -> None:
        with self._lock:
            self._roots = [Path(os.path.abspath(r)) for r in roots]
            s = self.settings
            self._filter = PathFilter(self._roots, s.exclude, s.secret_patterns, s.use_gitignore)
            self._ws.index = self._new_index()
            self._ready = False
            self._last.clear()
            self._repo_names.clear()

    def build_index(
        self,
        progress: Callable[[int, int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> None:
        """Walk the roots and index every eligible file (blocking; run it off the event loop)."""
        if not self.settings.enabled:
            return
        with self._lock:
            index = self._ws.index
        items = list(index.walk(lambda: self._closed or (cancel is not None and cancel())))
        total = len(items)
        for i, (root, path) in enumerate(items):
            if self._closed or (cancel is not None and cancel()):
                return
            if len(index.files) >= index.max_files or index.total_bytes >= index.max_total_bytes:
                index.truncated = True
                break
            key = path.as_posix()
            with self._lock:
                doc = self._ws.open.get(key)
                text = doc.text if doc is not None and not doc.excluded else None
                if doc is not None:
                    doc.dirty = False
            if doc is not None and doc.excluded:
                continue
            index.index_file(root, path, text)
            if progress is not None and (i % 50 == 0 or i == total - 1):
                progress(i + 1, total)
        with self._lock:
            if index is self._ws.index:
                self._ready = True

    @property
    def index(self) -> WorkspaceIndex:
        return self._ws.index

    def is_excluded(self, path: Path) -> bool:
        return self._filter.is_excluded(Path(os.path.abspath(path)))

    def _root_for(self, path: Path) -> Path | None:
        return self._filter.root_of(path)

    def relative_path(self, path: Path) -> str:
        path = Path(os.path.abspath(path))
        root = self._root_for(path) or _git_root(path)
        if root is not None:
            try:
                return path.relative_to(root).as_posix()
            except ValueError:
                pass
        return path.name

    def repo_name(self, path: Path) -> str:
        path = Path(os.path.abspath(path))
        root = self._root_for(path) or _git_root(path) or path.parent
        key = root.as_posix()
        with self._lock:
            name = self._repo_names.get(key)
        if name is None:
            name = _remote_name(root) or root.name or "repository"
            with self._lock:
                self._repo_names[key] = name
        return name

    # ------------------------------------------------------------------------------------ documents

    def on_open(self, path: Path, text: str, language: str | None) -> None:
        key = Path(os.path.abspath(path)).as_posix()
        excluded = self.is_excluded(Path(key)) or contains_secret(text)
        with self._lock:
            self._ws.open[key] = OpenDoc(text, syntax.normalize_language(language, key), excluded)

    def on_change(self, path: Path, text: str, start_line: int, end_line: int) -> None:
        key = Path(os.path.abspath(path)).as_posix()
        with self._lock:
            doc = self._ws.open.get(key)
            if doc is None:
                doc = self._ws.open[key] = OpenDoc(
                    text, file_language(key, text), self.is_excluded(Path(key))
                )
            doc.text = text
            doc.dirty = True
            if not doc.excluded and contains_secret(text):
                doc.excluded = True
                self._ws.index.remove(Path(key))
            self._note_recent(key, start_line)

    def on_save(self, path: Path, text: str) -> None:
        key = Path(os.path.abspath(path)).as_posix()
        with self._lock:
            doc = self._ws.open.get(key)
            if doc is not None:
                doc.text = text
                doc.dirty = True

    def on_close(self, path: Path) -> None:
        key = Path(os.path.abspath(path)).as_posix()
        with self._lock:
            self._ws.open.pop(key, None)
            self._last.pop(key, None)
            self._ws.recent.pop(key, None)
            if key in self._ws.index.files:
                self._pending_disk.add(key)

    def on_files_changed(self, changes: Sequence[tuple[Path, str]]) -> None:
        for path, kind in changes:
            path = Path(os.path.abspath(path))
            key = path.as_posix()
            if path.name in (".gitignore", "exclude"):
                self._filter.forget_gitignore(
                    path.parent if path.name == ".gitignore" else path.parent.parent.parent
                )
            if path.name in CONFIG_FILES and self._root_for(path) is not None:
                self._ws.index.note_config(path, deleted=kind == "deleted")
                continue
            if kind == "deleted":
                # a deleted folder takes every indexed file below it along
                for gone in [p for p in list(self._ws.index.files) if p == key or p.startswith(key + "/")]:
                    self._ws.index.remove(Path(gone))
                with self._lock:
                    self._ws.recent.pop(key, None)
                continue
            root = self._root_for(path)
            if root is None or self.is_excluded(path):
                self._ws.index.remove(path)
                continue
            if path.is_dir():  # a created (or moved-in) folder: index what it holds
                for sub_root, sub in self._ws.index.walk_dir(root, path):
                    self._ws.index.index_file(sub_root, sub)
                continue
            if os.path.splitext(key)[1].lower() not in syntax.EXTENSIONS:
                continue
            with self._lock:
                doc = self._ws.open.get(key)
            if doc is not None:
                continue  # the editor's text wins over the disk while the document is open
            self._ws.index.index_file(root, path)

    def close(self) -> None:
        """Stop a background build and drop every per-document state (the engine is not used again)."""
        with self._lock:
            self._closed = True
            self._ws.open.clear()
            self._ws.recent.clear()
            self._last.clear()
            self._pending_disk.clear()
            self._token_cache.clear()

    def set_token_counter(self, count_tokens: Callable[[str], int]) -> None:
        """Switch token counting (an estimate until the model's tokenizer loads, then exact); cached
        counts and kept selections made with the old counter are dropped."""
        with self._lock:
            self._count = count_tokens
            self._token_cache.clear()
            self._last.clear()

    def is_secret(self, path: Path) -> bool:
        """True for files the built-in or user secret patterns cover (`.env`, keys, credentials)."""
        path = Path(os.path.abspath(path))
        return self._filter.is_secret(path, self._root_for(path))

    def reset_state(self) -> None:
        """Forget recent edits and previous selections (benchmarks: each task starts fresh)."""
        with self._lock:
            self._ws.recent.clear()
            self._last.clear()
            self._pending_disk.clear()

    def note_completion(self, path: Path, line: int) -> None:
        with self._lock:
            self._note_recent(Path(os.path.abspath(path)).as_posix(), line)

    def _note_recent(self, key: str, line: int) -> None:
        now = time.monotonic()
        spots = self._ws.recent.pop(key, [])
        spots = [(ln, t) for ln, t in spots if abs(ln - line) > 12][:3]
        spots.insert(0, (line, now))
        self._ws.recent[key] = spots
        while len(self._ws.recent) > max(1, self.settings.max_recent):
            self._ws.recent.popitem(last=False)

    def _refresh(self, current: str) -> None:
        """Re-index open documents edited since (not the current one) and closed ones back from disk."""
        budget = 3
        for key, doc in list(self._ws.open.items()):
            if budget == 0:
                break
            if key == current or not doc.dirty or doc.excluded:
                continue
            doc.dirty = False
            root = self._root_for(Path(key))
            if root is not None and os.path.splitext(key)[1].lower() in syntax.EXTENSIONS:
                self._ws.index.index_file(root, Path(key), doc.text)
                self._ws.index.put_lines(key, doc.text.split("\n"))
                budget -= 1
        for key in list(self._pending_disk)[:budget]:
            self._pending_disk.discard(key)
            root = self._root_for(Path(key))
            if root is not None:
                self._ws.index.index_file(root, Path(key))

    # ------------------------------------------------------------------------------------ retrieval

    def retrieve(
        self,
        path: Path,
        text: str,
        offset: int,
        budget: int,
        window: tuple[int, int] | None = None,
    ) -> ContextResult:
        t0 = time.perf_counter()
        key = Path(os.path.abspath(path)).as_posix()
        with self._lock:
            self.counters["requests"] += 1
            if budget <= 0 or not self.settings.enabled or self.is_excluded(Path(key)):
                return self._result((), budget, True, t0, 0)
            offset = max(0, min(offset, len(text)))
            line = text.count("\n", 0, offset)
            col_start = text.rfind("\n", 0, offset) + 1
            lines = text.split("\n")
            terms = near_terms(lines, line, text[col_start:offset])
            last = self._last.get(key)
            if last is not None and can_keep(last, line, terms, budget, self._ready, self._ws.index.files):
                self.counters["kept"] += 1
                self.counters["identical"] += 1
                return self._result(last.snippets, budget, False, t0, 0)
            with self._ws.index.lock:
                self._refresh(key)
                query = build_query(self._ws, key, text, lines, line, offset)
                candidates: list[Candidate] = []
                for source in self._sources:
                    candidates += source.candidates(query)
                selected = self._packer.pack(candidates, budget, query.terms)
                versions = {
                    c.path: self._ws.index.files[c.path].version
                    for c, _ in selected
                    if c.path in self._ws.index.files
                }
            snippets = tuple(self._to_snippet(c, tokens) for c, tokens in selected)
            snippets = stable_order(last, snippets)
            if last is not None:
                prev = [(s.path, s.text) for s in last.snippets]
                new = [(s.path, s.text) for s in snippets]
                if prev == new:
                    self.counters["identical"] += 1
                elif prev and new[: len(prev)] == prev:
                    self.counters["extended"] += 1
            self.counters["reranked"] += 1
            self._last[key] = Selection(line, terms, budget, snippets, versions, self._ready)
            return self._result(snippets, budget, True, t0, len(candidates))

    def _result(
        self, snippets: tuple[Snippet, ...], budget: int, reranked: bool, t0: float, n_candidates: int
    ) -> ContextResult:
        by_source: dict[str, int] = {}
        for s in snippets:
            by_source[s.source] = by_source.get(s.source, 0) + s.tokens
        return ContextResult(
            snippets=snippets,
            budget=budget,
            used=sum(s.tokens for s in snippets),
            reranked=reranked,
            elapsed_ms=(time.perf_counter() - t0) * 1000.0,
            candidates=n_candidates,
            by_source=by_source,
            index_files=len(self._ws.index.files),
            index_ready=self._ready,
        )

    def stats(self) -> dict[str, object]:
        with self._lock:
            c = dict(self.counters)
            reqs = max(1, c["requests"])
            return {
                **c,
                "context_reuse_rate": round((c["identical"] + c["extended"]) / reqs, 3),
                "index": self._ws.index.stats(),
                "index_ready": self._ready,
                "open_documents": len(self._ws.open),
            }

    # ------------------------------------------------------------------------------------ tokens

    def count_tokens(self, text: str) -> int:
        cached = self._token_cache.get(text)
        if cached is not None:
            self._token_cache.move_to_end(text)
            return cached
        n = self._count(text)
        self._token_cache[text] = n
        if len(self._token_cache) > 4096:
            self._token_cache.popitem(last=False)
        return n

    def snippet_tokens(self, rel: str, text: str) -> int:
        return 1 + self.count_tokens(f"{rel}\n{text}\n")

    def _rel_key(self, path: str) -> str:
        record = self._ws.index.files.get(path)
        return record.rel if record is not None else self.relative_path(Path(path))

    def _to_snippet(self, cand: Candidate, tokens: int) -> Snippet:
        text = "\n".join(cand.lines).strip("\n")
        rel = self._rel_key(cand.path)
        exact = self.snippet_tokens(rel, text)  # a cache hit: `_pack` counted this very text
        return Snippet(
            path=rel,
            start_line=cand.start + 1,
            end_line=cand.end + 1,
            text=text,
            source=cand.source,
            score=round(cand.score, 4),
            tokens=exact,
            reason=cand.reason,
        )


def _git_root(path: Path) -> Path | None:
    for parent in path.parents:
        if (parent / ".git").exists():
            return parent
    return None


def _remote_name(root: Path) -> str | None:
    try:
        with open(root / ".git" / "config", encoding="utf-8", errors="replace") as fh:
            config = fh.read()
    except OSError:
        return None
    m = re.search(r'\[remote "origin"\][^\[]*?url\s*=\s*(\S+)', config)
    if not m:
        return None
    name = m.group(1).rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return name[:-4] if name.endswith(".git") else name or None
