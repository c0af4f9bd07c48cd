"""The context engine: gathers candidate snippets from every source, ranks them and packs them into a
token budget, keeping the prompt order stable across keystrokes so the KV cache survives.

Sources (each switchable): the module a member access before the cursor goes through (`anims.` ->
an outline of `animations.py`), definitions of identifiers near the cursor, outlines of imported files,
open documents, recently edited / completed-at regions, and BM25-similar chunks of the workspace.

Stability: while the cursor stays in the same region and the identifiers around it do not change
much, the previous selection is returned as is. When a re-rank happens, snippets that survive keep
their previous relative order and new ones are appended after them; counters say how often the
context part of the prompt stayed the same (or grew only at its end).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qwen_ls import syntax
from qwen_ls.context.ignore import PathFilter, contains_secret
from qwen_ls.context.imports import declared_namespaces, extract_imports, resolve_import
from qwen_ls.context.index import CONFIG_FILES, WorkspaceIndex
from qwen_ls.context.settings import ContextSettings
from qwen_ls.context.symbols import (
    IDENT_RE,
    STOPWORDS,
    Definition,
    code_only,
    file_language,
    identifiers,
    outline,
)
from qwen_ls.context.types import ContextResult, Snippet

log = logging.getLogger(__name__)

_RECEIVER = re.compile(r"([A-Za-z_$][\w$]*(?:\s*(?:\.|::|->)\s*[A-Za-z_$][\w$]*)*)\s*(?:\.|::|->)\s*[\w$]*$")
_CLASS_HEAD = re.compile(
    r"^[ \t]*(?:export\s+)?(?:default\s+)?(?:public\s+|private\s+|abstract\s+|final\s+)*"
    r"(?:class|struct|interface)\s+([A-Za-z_]\w*)[^\n{:(]*?"
    r"(?:\(([^)]*)\)|\s+extends\s+([\w.,\s<>]+?)(?:\s+implements\s+([\w.,\s<>]+?))?\s*\{|\s*:\s*([^{;]+)\{)",
    re.MULTILINE,
)
_CPP_METHOD = re.compile(r"^[\w:<>,\s*&]*?\b(\w+)\s*::\s*~?\w+\s*\([^;{]*\)[^;{]*\{", re.MULTILINE)
_SELF_NAMES = frozenset({"self", "this", "cls", "super", "Self"})
_CONTAINER_KINDS = frozenset({"class", "impl", "module", "type"})
_LOOKBACK_LINES = 12
_QUERY_LINES = 30
_SMALL_CLASS_LINES = 30


@dataclass
class _Candidate:
    path: str  # absolute POSIX path
    start: int  # 0-based inclusive
    end: int  # 0-based inclusive
    lines: list[str]  # the snippet's text, line by line
    source: str
    score: float
    reason: str
    contiguous: bool = True  # real consecutive lines (an outline is not)


@dataclass
class _OpenDoc:
    text: str
    language: str | None
    excluded: bool
    dirty: bool = True
    _lines: list[str] | None = None
    _lines_of: str | None = None

    def lines(self) -> list[str]:
        if self._lines is None or self._lines_of is not self.text:
            self._lines, self._lines_of = self.text.split("\n"), self.text
        return self._lines


@dataclass
class _Last:
    line: int
    terms: frozenset[str]
    budget: int
    snippets: tuple[Snippet, ...]
    versions: dict[str, int] = field(default_factory=dict)
    ready: bool = True  # made with a complete index


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / max(1, len(a | b))


class ContextEngine:
    """Repository context for one workspace (possibly multi-root). All methods are thread-safe."""

    def __init__(self, settings: ContextSettings, count_tokens: Callable[[str], int]) -> None:
        self.settings = settings
        self._count = count_tokens
        self._lock = threading.RLock()
        self._roots: list[Path] = []
        self._filter = PathFilter([], settings.exclude, settings.secret_patterns, settings.use_gitignore)
        self._index = self._new_index()
        self._open: dict[str, _OpenDoc] = {}
        self._recent: OrderedDict[str, list[tuple[int, float]]] = OrderedDict()
        self._last: dict[str, _Last] = {}
        self._pending_disk: set[str] = set()
        self._token_cache: OrderedDict[str, int] = OrderedDict()
        self._query: dict[str, float] = {}
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
            self._index = self._new_index()
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
            index = self._index
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
                doc = self._open.get(key)
                text = doc.text if doc is not None and not doc.excluded else None
                if doc is not None:
                    doc.dirty = False
            if doc is not None and doc.excluded:
                continue
            index.index_file(root, path, text)
            if progress is not None and (i % 50 == 0 or i == total - 1):
                progress(i + 1, total)
        with self._lock:
            if index is self._index:
                self._ready = True

    @property
    def index(self) -> WorkspaceIndex:
        return self._index

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
            self._open[key] = _OpenDoc(text, syntax.normalize_language(language, key), excluded)

    def on_change(self, path: Path, text: str, start_line: int, end_line: int) -> None:
        key = Path(os.path.abspath(path)).as_posix()
        with self._lock:
            doc = self._open.get(key)
            if doc is None:
                doc = self._open[key] = _OpenDoc(text, file_language(key, text), self.is_excluded(Path(key)))
            doc.text = text
            doc.dirty = True
            if not doc.excluded and contains_secret(text):
                doc.excluded = True
                self._index.remove(Path(key))
            self._note_recent(key, start_line)

    def on_save(self, path: Path, text: str) -> None:
        key = Path(os.path.abspath(path)).as_posix()
        with self._lock:
            doc = self._open.get(key)
            if doc is not None:
                doc.text = text
                doc.dirty = True

    def on_close(self, path: Path) -> None:
        key = Path(os.path.abspath(path)).as_posix()
        with self._lock:
            self._open.pop(key, None)
            self._last.pop(key, None)
            self._recent.pop(key, None)
            if key in self._index.files:
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
                self._index.note_config(path, deleted=kind == "deleted")
                continue
            if kind == "deleted":
                # a deleted folder takes every indexed file below it along
                for gone in [p for p in list(self._index.files) if p == key or p.startswith(key + "/")]:
                    self._index.remove(Path(gone))
                with self._lock:
                    self._recent.pop(key, None)
                continue
            root = self._root_for(path)
            if root is None or self.is_excluded(path):
                self._index.remove(path)
                continue
            if path.is_dir():  # a created (or moved-in) folder: index what it holds
                for sub_root, sub in self._index.walk_dir(root, path):
                    self._index.index_file(sub_root, sub)
                continue
            if os.path.splitext(key)[1].lower() not in syntax.EXTENSIONS:
                continue
            with self._lock:
                doc = self._open.get(key)
            if doc is not None:
                continue  # the editor's text wins over the disk while the document is open
            self._index.index_file(root, path)

    def close(self) -> None:
        """Stop a background build and drop every per-document state (the engine is not used again)."""
        with self._lock:
            self._closed = True
            self._open.clear()
            self._recent.clear()
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
            self._recent.clear()
            self._last.clear()
            self._pending_disk.clear()

    def note_completion(self, path: Path, line: int) -> None:
        with self._lock:
            self._note_recent(Path(os.path.abspath(path)).as_posix(), line)

    def _note_recent(self, key: str, line: int) -> None:
        now = time.monotonic()
        spots = self._recent.pop(key, [])
        spots = [(ln, t) for ln, t in spots if abs(ln - line) > 12][:3]
        spots.insert(0, (line, now))
        self._recent[key] = spots
        while len(self._recent) > max(1, self.settings.max_recent):
            self._recent.popitem(last=False)

    def _refresh(self, current: str) -> None:
        """Re-index open documents edited since (not the current one) and closed ones back from disk."""
        budget = 3
        for key, doc in list(self._open.items()):
            if budget == 0:
                break
            if key == current or not doc.dirty or doc.excluded:
                continue
            doc.dirty = False
            root = self._root_for(Path(key))
            if root is not None and os.path.splitext(key)[1].lower() in syntax.EXTENSIONS:
                self._index.index_file(root, Path(key), doc.text)
                self._index.put_lines(key, doc.text.split("\n"))
                budget -= 1
        for key in list(self._pending_disk)[:budget]:
            self._pending_disk.discard(key)
            root = self._root_for(Path(key))
            if root is not None:
                self._index.index_file(root, Path(key))

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
            terms = self._near_terms(lines, line, text[col_start:offset])
            last = self._last.get(key)
            if last is not None and self._can_keep(last, line, terms, budget):
                self.counters["kept"] += 1
                self.counters["identical"] += 1
                return self._result(last.snippets, budget, False, t0, 0)
            with self._index.lock:
                self._refresh(key)
                candidates = self._candidates(key, text, lines, line, offset, col_start)
                selected = self._pack(candidates, budget)
                versions = {
                    c.path: self._index.files[c.path].version
                    for c, _ in selected
                    if c.path in self._index.files
                }
            snippets = tuple(self._to_snippet(c, tokens) for c, tokens in selected)
            snippets = self._stable_order(last, snippets)
            if last is not None:
                prev = [(s.path, s.text) for s in last.snippets]
                new = [(s.path, s.text) for s in snippets]
                if prev == new:
                    self.counters["identical"] += 1
                elif prev and new[: len(prev)] == prev:
                    self.counters["extended"] += 1
            self.counters["reranked"] += 1
            self._last[key] = _Last(line, terms, budget, snippets, versions, self._ready)
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
            index_files=len(self._index.files),
            index_ready=self._ready,
        )

    def stats(self) -> dict[str, object]:
        with self._lock:
            c = dict(self.counters)
            reqs = max(1, c["requests"])
            return {
                **c,
                "context_reuse_rate": round((c["identical"] + c["extended"]) / reqs, 3),
                "index": self._index.stats(),
                "index_ready": self._ready,
                "open_documents": len(self._open),
            }

    # ------------------------------------------------------------------------------------ stability

    @staticmethod
    def _near_terms(lines: list[str], line: int, typed: str) -> frozenset[str]:
        """Complete identifiers around the cursor (the word being typed left out)."""
        words: set[str] = set()
        for i in range(max(0, line - 6), min(len(lines), line + 2)):
            if i == line:
                head = re.sub(r"[\w$]+$", "", typed)
                words.update(identifiers(head))
            else:
                words.update(identifiers(lines[i]))
        return frozenset(words)

    def _can_keep(self, last: _Last, line: int, terms: frozenset[str], budget: int) -> bool:
        # the kept selection must still fit; a budget that grew a lot deserves a re-rank
        used = sum(s.tokens for s in last.snippets)
        if used > budget or budget > last.budget * 1.25 + 16 or abs(line - last.line) > 8:
            return False
        if _jaccard(terms, last.terms) < 0.6 or (self._ready and not last.ready):
            return False
        files = self._index.files
        for p, version in last.versions.items():
            record = files.get(p)
            if record is None or record.version != version:
                return False
        return True

    @staticmethod
    def _stable_order(last: _Last | None, snippets: tuple[Snippet, ...]) -> tuple[Snippet, ...]:
        """Survivors of the previous selection first, in their previous order; then the new ones."""
        if last is None:
            return snippets
        new_by_key = {(s.path, s.start_line, s.end_line, s.text): s for s in snippets}
        kept = []
        for s in last.snippets:
            k = (s.path, s.start_line, s.end_line, s.text)
            if k in new_by_key:
                kept.append(new_by_key.pop(k))
        rest = [s for s in snippets if (s.path, s.start_line, s.end_line, s.text) in new_by_key]
        return tuple(kept + rest)

    # ------------------------------------------------------------------------------------ candidates

    def _file_lines(self, path: str) -> list[str] | None:
        doc = self._open.get(path)
        if doc is not None and not doc.excluded:
            return doc.lines()
        return self._index.lines(path)

    def _candidates(
        self, key: str, text: str, lines: list[str], line: int, offset: int, col_start: int
    ) -> list[_Candidate]:
        s = self.settings
        index = self._index
        language = file_language(key, text)
        doc = self._open.get(key)
        if doc is not None and doc.language:
            language = doc.language
        out: list[_Candidate] = []
        record = index.files.get(key)
        local_names = set(record.def_names) if record is not None else set()

        # identifiers near the cursor, weighted by distance (current line 1.0)
        weights: dict[str, float] = {}
        first = max(0, line - _LOOKBACK_LINES)
        for i in range(first, line + 1):
            seg = text[col_start:offset] if i == line else lines[i]
            w = 1.0 / (1.0 + (line - i) / 4.0)
            for word in identifiers(seg):
                if w > weights.get(word, 0.0):
                    weights[word] = w

        # imports of the current file, resolved
        bound: dict[str, list[str]] = {}  # local name -> files
        import_files: dict[str, list[str]] = {}  # file -> members imported from it ([] = whole module)
        if s.imports or s.definitions:
            for ref in extract_imports(text, language):
                for local, target in resolve_import(index, key, ref, language):
                    if self._excluded_key(target):
                        continue
                    members = import_files.setdefault(target, [])
                    if local is not None:
                        bound.setdefault(local, []).append(target)
                        member = next((m for loc, m in ref.bindings if loc == local), None)
                        if (
                            member
                            and member != "default"
                            and Path(target).stem != member
                            and not target.endswith(f"/{member}/__init__.py")
                        ):
                            members.append(member)

        # 1. the receiver of a member access right before the cursor: `anims.` / `self.scene.` / `pot.`
        chain: list[str] = []
        m = _RECEIVER.search(text[col_start:offset])
        if m:
            chain = [p for p in re.split(r"\s*(?:\.|::|->)\s*", m.group(1)) if p]
        if chain and (s.imports or s.definitions):
            head = chain[0]
            last_name = chain[-1]
            if head in bound and s.imports:
                for target in bound[head][:2]:
                    out += self._outline_candidates(target, 1.0, "import", f"`{head}.` is this module")
                    out += self._reexport_candidates(target, 0.9, f"re-exported by the module `{head}`")
            if s.definitions:
                if head in _SELF_NAMES and len(chain) == 1:
                    for base in self._enclosing_bases(text, offset):
                        out += self._definition_candidates(
                            base, key, bound, 0.9, "a base class of this class"
                        )
                elif last_name not in _SELF_NAMES and not (len(chain) == 1 and head in bound):
                    # the receiver's type, from its assignment or annotation before the cursor
                    attribute = len(chain) > 1 and head in _SELF_NAMES
                    types = _receiver_types(text[:offset], last_name, attribute, language)
                    for t in types[:2]:
                        out += self._definition_candidates(
                            t, key, bound, 0.97, f"`{last_name}` is a `{t}`", follow=2, exact=True
                        )
                    if not types:
                        out += self._definition_candidates(
                            last_name, key, bound, 0.95, f"`{last_name}` is the receiver", follow=1
                        )

        # the class whose method the cursor is in, for C++ out-of-line definitions (`Foo::bar() {`)
        if s.definitions and language in ("c", "cpp"):
            owner = None
            for m2 in _CPP_METHOD.finditer(text, max(0, offset - 20000), offset):
                owner = m2.group(1)
            if owner:
                out += self._definition_candidates(
                    owner, key, bound, 0.8, f"the cursor is in a method of `{owner}`", follow=1, exact=True
                )

        # 2. definitions of identifiers used near the cursor
        if s.definitions:
            ranked = sorted(weights.items(), key=lambda kv: -kv[1])
            for word, w in ranked[:24]:
                if word in local_names and word not in bound:
                    continue
                out += self._definition_candidates(
                    word, key, bound, 0.8 * w, f"`{word}` is used near the cursor"
                )

        # 2b. types of the same package (Java, Go) or namespace (C#): visible without an import;
        # those whose names share words with the code near the cursor (`HttpsServer` -> `HttpsServerImpl`)
        peers = self._package_peers(key, text, language) if s.imports or s.definitions else []
        if s.definitions and peers:
            for name, sim in self._package_types(peers, language, weights)[:3]:
                out += self._definition_candidates(
                    name, key, bound, 0.6 * sim, "in this package, named like the code here", exact=True
                )

        # 3. imported files as outlines (the members imported, or the whole module)
        if s.imports:
            # names imported but not used yet before the cursor: what the code is about to use
            body_words = set(
                IDENT_RE.findall(_without_imports(text[max(0, offset - 200_000) : offset], language))
            )
            for n, (target, members) in enumerate(import_files.items()):
                if n >= 12:
                    break
                locals_here = [local for local, files in bound.items() if target in files]
                used = any(weights.get(local, 0) > 0 for local in locals_here)
                fresh = bool(locals_here) and not any(local in body_words for local in locals_here)
                score = (0.62 if used else 0.55 if fresh else 0.45) - 0.005 * n
                reason = "imported" + (
                    " and used near the cursor" if used else " and not used yet" if fresh else ""
                )
                if _stem(target) == _stem(key) and target != key:
                    score, reason = 0.85, "the interface of this file (its own header)"
                out += self._outline_candidates(target, score, "import", reason, members=members or None)
                record_t = index.files.get(target)
                if s.definitions and members and record_t is not None:
                    # a member the module only re-exports (`export * from './x'`, a package
                    # `__init__`): its definition, wherever it is
                    for member in members[:6]:
                        if member not in record_t.def_names:
                            out += self._definition_candidates(
                                member, key, bound, score * 0.95, f"imported through {Path(target).name}"
                            )

        # 4. similar chunks (BM25), open documents and recent edits
        query: dict[str, float] = {}
        first_line = max(0, line - _QUERY_LINES)
        window = [*lines[first_line:line], text[col_start:offset]]
        window_text = code_only("\n".join(window), language)  # comments are not the code
        if syntax.family(language) in _NAMESPACE_IMPORTS:
            # `using System.Linq;` / `import "net/http"` name whole namespaces that most files of
            # the project share: they make every file's header look alike, not the code
            window_text = _IMPORT_LINE.sub("", window_text)
        window = window_text.split("\n")
        for i, seg in enumerate(window, start=first_line):
            w = 1.0 / (1.0 + (line - i) / 5.0)
            for word in identifiers(seg):
                query[word] = max(query.get(word, 0.0), w)
        for word in chain:  # code that uses the same receiver shows what comes after it
            if word in query and word not in _SELF_NAMES:
                query[word] *= 2.0
        self._query = query
        hits = index.search(query, 40, exclude_file=key) if query else []
        top = hits[0][3] if hits else 1.0
        per_file: dict[str, int] = {}
        for path, start, end, score in hits:
            is_open = path in self._open and not self._open[path].excluded
            if is_open and not s.open_documents:
                continue
            if not is_open and not s.similar:
                continue
            nth = per_file.get(path, 0)
            if nth >= 3:
                continue
            per_file[path] = nth + 1
            flines = self._file_lines(path)
            if flines is None:
                continue
            closeness = score / top
            source = "open" if is_open else "similar"
            prior = 0.35 if is_open else 0.25
            end = min(end, len(flines) - 1)
            start, end = _trim_comment_lines(flines, start, end, file_language(path))
            if end < start:
                continue
            out.append(
                _Candidate(
                    path,
                    start,
                    end,
                    flines[start : end + 1],
                    source,
                    (prior + 0.4 * closeness) * 0.85**nth,  # prefer spread over many files
                    f"similar to the code before the cursor ({closeness:.2f} of the best)",
                )
            )
        # 5. what is left of the budget: outlines of the package's files (its API, visible here without
        # imports), those with code most like the cursor's first
        if s.imports and peers:
            best_hit: dict[str, float] = {}
            for path, _start, _end, score in hits:
                best_hit[path] = max(best_hit.get(path, 0.0), score)
            nearest = sorted(peers, key=lambda p: (-best_hit.get(p, 0.0), p))[:6]
            for n, path in enumerate(nearest):
                out += self._outline_candidates(
                    path, 0.2 - 0.01 * n, "import", "in this package (visible without an import)"
                )
        if s.recent_edits:
            for rank, (path, spots) in enumerate(reversed(list(self._recent.items()))):
                if path == key or self._excluded_key(path):
                    continue
                flines = self._file_lines(path)
                if not flines:
                    continue
                for j, (ln, _t) in enumerate(spots[:2]):
                    a = max(0, ln - 8)
                    b = min(len(flines) - 1, ln + 8)
                    out.append(
                        _Candidate(
                            path,
                            a,
                            b,
                            flines[a : b + 1],
                            "recent",
                            0.5 * (0.8**rank) * (0.8**j),
                            "edited or completed here recently",
                        )
                    )
        return out

    def _package_peers(self, key: str, text: str, language: str | None) -> list[str]:
        """The other files of the current file's package, for languages whose files see their package
        without imports: its folder (Java, Go); for C# the files declaring its namespaces."""
        fam = syntax.family(language)
        if fam not in _PACKAGE_LANGUAGES:
            return []
        index = self._index
        if fam == "csharp":
            peers = {p for ns in declared_namespaces(text, language) for p in index.in_namespace(ns)}
        else:
            suffix = Path(key).suffix
            peers = {p for p in index.in_dir(key.rsplit("/", 1)[0]) if p.endswith(suffix)}
        peers.discard(key)
        return sorted(p for p in peers if not self._excluded_key(p))

    def _package_types(
        self, peers: list[str], language: str | None, weights: dict[str, float]
    ) -> list[tuple[str, float]]:
        """Top-level types of the package's files, scored by the share of their name's words used
        near the cursor."""
        index = self._index
        if not weights:
            return []
        near: dict[str, float] = {}
        for word, w in weights.items():
            for part in _name_words(word):
                near[part] = max(near.get(part, 0.0), w)
        kinds = _PACKAGE_KINDS.get(syntax.family(language) or "", _CONTAINER_KINDS)
        scored: dict[str, float] = {}
        for path in peers[:400]:
            record = index.files.get(path)
            if record is None:
                continue
            for d in record.defs:
                if d.depth != 0 or d.kind not in kinds or d.name in weights:
                    continue  # names used near the cursor are looked up as definitions already
                parts = _name_words(d.name)
                if len(parts) < 2:
                    continue  # one word is no evidence
                sim = sum(near.get(part, 0.0) for part in parts) / len(parts)
                if sim >= 0.5 and sim > scored.get(d.name, 0.0):
                    scored[d.name] = sim
        return sorted(scored.items(), key=lambda kv: (-kv[1], kv[0]))

    def _excluded_key(self, path: str) -> bool:
        doc = self._open.get(path)
        if doc is not None:
            return doc.excluded
        return path not in self._index.files

    def _enclosing_bases(self, text: str, offset: int) -> list[str]:
        best = None
        for m in _CLASS_HEAD.finditer(text, 0, offset):
            best = m
        if best is None:
            return []
        raw = " ".join(g for g in best.groups()[1:] if g)
        return [
            w
            for w in IDENT_RE.findall(raw)
            if w not in STOPWORDS
            and w[0].isupper()
            and w not in ("Object", "object", "public", "private", "protected")
        ][:4]

    def _definition_candidates(
        self,
        name: str,
        current: str,
        bound: dict[str, list[str]],
        score: float,
        reason: str,
        follow: int = 0,
        exact: bool = False,
    ) -> list[_Candidate]:
        """Snippets of the definitions of `name` in other files. With `follow`, also the classes a
        found definition mentions (its type) and a class's base classes, `follow` levels deep.
        `exact`: the name was inferred from code (a type, a base class), so an import is no evidence."""
        owners = [p for p in self._index.owners(name) if p != current and not self._excluded_key(p)]
        if not owners:
            return []
        imported = {f for files in bound.values() for f in files}
        if len(owners) > 6:
            owners = [p for p in owners if p in imported]
            if not owners:
                return []
        owners.sort(key=lambda p: (p not in imported, p))
        out: list[_Candidate] = []
        spread = 1.0 / (len(owners) ** 0.5)
        for path in owners[:3]:
            record = self._index.files.get(path)
            if record is None:
                continue
            flines = self._file_lines(path)
            if flines is None:
                continue
            boost = 1.0 if exact or path in imported else 0.85
            named = [d for d in record.defs if d.name == name]
            if exact and any(d.kind in _CONTAINER_KINDS for d in named):
                named = [d for d in named if d.kind in _CONTAINER_KINDS]  # the class, not its constructors
            for d in named[:2]:
                cand = self._definition_snippet(path, flines, record.defs, record.language, d)
                if cand is None:
                    continue
                cand.score = score * boost * spread
                cand.reason = f"defines `{name}`; {reason}"
                out.append(cand)
                if record.language == "go" and d.kind in ("type", "class"):
                    # Go declares methods outside the type: its method set, from the same file
                    methods = [
                        m.name
                        for m in record.defs
                        if m.kind == "function" and _go_receiver(flines[m.start_line]) == name
                    ]
                    if methods:
                        out += self._outline_candidates(
                            path,
                            cand.score * 0.97,
                            "definition",
                            f"the methods of `{name}`; {reason}",
                            members=[name, *methods],
                        )
                if follow <= 0:
                    continue
                if d.kind in ("class", "impl"):
                    related = _bases_in_header(flines[d.start_line : d.body_line + 1])
                    why = f"a base class of `{name}`"
                else:
                    head = "\n".join(cand.lines[:4])
                    related = [
                        w for w in dict.fromkeys(IDENT_RE.findall(head)) if w[:1].isupper() and w != name
                    ]
                    why = f"mentioned by the definition of `{name}`"
                for word in related[:3]:
                    if word in STOPWORDS:
                        continue
                    for sub in self._definition_candidates(
                        word, current, bound, cand.score * 0.93, why, follow - 1, exact=True
                    ):
                        if sub.path != path or sub.start != cand.start:
                            out.append(sub)
        return out

    def _definition_snippet(
        self, path: str, flines: list[str], defs: list[Definition], language: str | None, d: Definition
    ) -> _Candidate | None:
        max_lines = max(4, self.settings.max_snippet_lines)
        if d.kind in ("attribute", "field") and d.container:
            container = next(
                (
                    c
                    for c in defs
                    if c.name == d.container
                    and c.kind in _CONTAINER_KINDS
                    and c.start_line <= d.start_line <= c.end_line
                ),
                None,
            )
            if container is not None:
                d = container
        if d.kind in _CONTAINER_KINDS and d.end_line - d.start_line + 1 > _SMALL_CLASS_LINES:
            members = {
                i for i, c in enumerate(defs) if d.start_line <= c.start_line and c.end_line <= d.end_line
            }
            rows = outline("\n".join(flines), defs, language, only=members)
            if not rows:
                return None
            rows = rows[:max_lines]
            return _Candidate(
                path, rows[0][0], rows[-1][0], [t for _, t in rows], "definition", 0.0, "", False
            )
        start = d.start_line
        end = min(d.end_line, start + max_lines - 1, len(flines) - 1)
        if start >= len(flines):
            return None
        # decorators and doc comments right above belong to the definition
        while (
            start > 0
            and d.start_line - start < 3
            and flines[start - 1].strip().startswith(("@", "///", "/**", "#["))
        ):
            start -= 1
        return _Candidate(path, start, end, flines[start : end + 1], "definition", 0.0, "")

    def _reexport_candidates(self, path: str, score: float, reason: str) -> list[_Candidate]:
        """A package `__init__.py` / `index.ts` that mostly re-exports: outlines of what it imports."""
        record = self._index.files.get(path)
        if record is None or len([d for d in record.defs if d.depth == 0 and d.kind != "variable"]) >= 3:
            return []
        out: list[_Candidate] = []
        targets: list[str] = []
        for ref in record.imports:
            for _local, target in resolve_import(self._index, path, ref, record.language):
                if target not in targets and target != path and not self._excluded_key(target):
                    targets.append(target)
        for n, target in enumerate(targets[:6]):
            out += self._outline_candidates(target, score - 0.01 * n, "import", reason)
        return out

    def _outline_candidates(
        self, path: str, score: float, source: str, reason: str, members: list[str] | None = None
    ) -> list[_Candidate]:
        record = self._index.files.get(path)
        if record is None:
            return []
        flines = self._file_lines(path)
        if flines is None:
            return []
        defs = record.defs
        only: set[int] | None = None
        if members:
            named = [d for d in defs if d.name in members and d.depth == 0]
            if named:
                only = set()
                for d in named:
                    only.update(
                        i
                        for i, c in enumerate(defs)
                        if d.start_line <= c.start_line and c.end_line <= d.end_line
                    )
        if not defs:
            end = min(len(flines), self.settings.max_snippet_lines) - 1
            return [_Candidate(path, 0, max(0, end), flines[: end + 1], source, score, reason)]
        rows = outline("\n".join(flines), defs, record.language, only=only)
        if not rows:
            return []
        rows = rows[: max(8, 2 * self.settings.max_snippet_lines)]
        return [
            _Candidate(
                path,
                rows[0][0],
                rows[-1][0],
                [t for _, t in rows],
                source,
                score,
                reason + " (outline)",
                False,
            )
        ]

    # ------------------------------------------------------------------------------------ packing

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

    def _pack(self, candidates: list[_Candidate], budget: int) -> list[tuple[_Candidate, int]]:
        s = self.settings
        chosen: list[tuple[_Candidate, int]] = []
        taken: dict[str, list[tuple[int, int]]] = {}
        seen_text: set[str] = set()
        used = 0
        for cand in sorted(candidates, key=lambda c: -c.score):
            if len(chosen) >= s.max_snippets or budget - used < s.min_snippet_tokens:
                break
            body = "\n".join(cand.lines).strip("\n")
            if not body.strip() or body in seen_text:
                continue
            spans = taken.get(cand.path, [])
            if cand.contiguous and spans:
                cut = _uncovered_run(cand.start, cand.end, spans)
                if cut is None:
                    continue
                a, b = cut
                if (a, b) != (cand.start, cand.end):
                    lines = cand.lines[a - cand.start : b - cand.start + 1]
                    cand = _Candidate(cand.path, a, b, lines, cand.source, cand.score, cand.reason)
                    body = "\n".join(lines).strip("\n")
                    if not body.strip():
                        continue
            rel = self._rel_key(cand.path)
            tokens = self.snippet_tokens(rel, body)
            if used + tokens > budget:
                if not cand.contiguous:
                    focused = self._focus(rel, cand, budget - used)
                    if focused is None:
                        continue
                    cand, body = focused, "\n".join(focused.lines).strip("\n")
                    tokens = self.snippet_tokens(rel, body)
                    if used + tokens > budget:
                        continue
                    seen_text.add(body)
                    chosen.append((cand, tokens))
                    used += tokens
                    continue
                cand_lines = self._truncate(rel, cand.lines, budget - used)
                if cand_lines is None:
                    continue
                cand = _Candidate(
                    cand.path,
                    cand.start,
                    cand.start + len(cand_lines) - 1,
                    cand_lines,
                    cand.source,
                    cand.score,
                    cand.reason + " (cut to fit)",
                )
                body = "\n".join(cand_lines).strip("\n")
                tokens = self.snippet_tokens(rel, body)
                if used + tokens > budget:
                    continue
            seen_text.add(body)
            if cand.contiguous:
                taken.setdefault(cand.path, []).append((cand.start, cand.end))
            chosen.append((cand, tokens))
            used += tokens
        # prompt order: best last (closest to the cursor)
        chosen.sort(key=lambda ct: ct[0].score)
        return chosen

    def _focus(self, rel: str, cand: _Candidate, room: int) -> _Candidate | None:
        """An outline too long for the room left: keep the entries that mention identifiers of the code
        before the cursor, with their neighbours (a constant's siblings are what follows it), in file
        order; with no such entries this is the outline's beginning."""
        if room < self.settings.min_snippet_tokens:
            return None
        rows = cand.lines
        query = self._query
        weights = [sum(query.get(w, 0.0) for w in set(IDENT_RE.findall(r))) for r in rows]
        order = sorted(range(len(rows)), key=lambda i: (-weights[i], i))
        cost = 2 + self.count_tokens(rel)
        keep: set[int] = set()
        full = False
        for i in order:
            for j in (i, i + 1, i - 1, i + 2):
                if j < 0 or j >= len(rows) or j in keep:
                    continue
                c = self.count_tokens(rows[j]) + 1
                if cost + c > room:
                    full = True
                    break
                keep.add(j)
                cost += c
            if full:
                break
        while keep:
            lines = [rows[i] for i in sorted(keep)]
            if self.snippet_tokens(rel, "\n".join(lines)) <= room:
                break
            keep.discard(min(keep, key=lambda i: (weights[i], -i)))
        if len(keep) < 2:
            return None
        lines = [rows[i] for i in sorted(keep)]
        return _Candidate(
            cand.path,
            cand.start,
            cand.end,
            lines,
            cand.source,
            cand.score,
            cand.reason + " (focused on the cursor's identifiers)",
            False,
        )

    def _truncate(self, rel: str, lines: list[str], room: int) -> list[str] | None:
        if room < self.settings.min_snippet_tokens:
            return None
        keep = len(lines)
        total = self.snippet_tokens(rel, "\n".join(lines))
        for _ in range(6):
            if total <= room:
                break
            keep = min(keep - 1, int(keep * room / max(1, total)))
            if keep < 2:
                return None
            total = self.snippet_tokens(rel, "\n".join(lines[:keep]))
        if total > room:
            return None
        while keep > 1 and not lines[keep - 1].strip():
            keep -= 1
        return lines[:keep]

    def _rel_key(self, path: str) -> str:
        record = self._index.files.get(path)
        return record.rel if record is not None else self.relative_path(Path(path))

    def _to_snippet(self, cand: _Candidate, tokens: int) -> Snippet:
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


def _receiver_types(before: str, name: str, attribute: bool, language: str | None = None) -> list[str]:
    """Type names a variable (or `self.`/`this.` attribute) is given before the cursor: its annotation,
    or the class it is constructed from, in the syntax of any of the supported languages. Assignments
    through `self.`/`this.` are preferred for attributes; a field declaration (`private foo: Foo`,
    `Foo foo;`) counts too."""
    n = re.escape(name)
    leads = [r"(?:self|this)\s*\.\s*", r"(?<![\w.])"] if attribute else [r"(?<![\w.])"]
    pats: list[str] = []
    for lead in leads:
        pats += [
            lead + n + r"\s*\??:\s*(?:[\w.]+\[)?([A-Za-z_][\w.]*)",  # Python / TS annotation
            lead + n + r"\s*(?::[^=\n]+)?=\s*(?:new\s+|await\s+|&)?([A-Za-z_][\w.:]*)\s*[\(\{<]",  # = Type(
            lead + n + r"\s*:=\s*&?([\w.]+)\s*[\{(]",  # Go
        ]
    pats.append(r"\b([A-Z]\w*)(?:<[^>\n]*>)?[\s*&]+" + n + r"\s*[=;,)({]")  # Java / C / C++: Type name
    pats.append(r"\blet\s+(?:mut\s+)?" + n + r"\s*(?::\s*&?(?:mut\s+)?([\w:]+))?\s*=\s*([\w:]+)")  # Rust
    if language == "go":  # fields and parameters: `store *Store`, `items []Item`
        pats.append(r"(?<![\w.])" + n + r"\s+\*?(?:\[\])?((?:\w+\.)?[A-Z]\w*)\b")
    patterns = tuple(pats)
    found: list[tuple[int, str]] = []
    tail = before[-200_000:]
    for pat in patterns:
        for m in re.finditer(pat, tail):
            for g in m.groups():
                if g:
                    word = re.split(r"\.|::", g)
                    parts = [w for w in word if w]
                    if not parts:
                        continue
                    # `Type::new(` / `pkg.Type(`: the type is the last capitalised part
                    caps = [w for w in parts if w[:1].isupper()]
                    found.append((m.start(), caps[-1] if caps else parts[-1]))
    found.sort(key=lambda x: -x[0])
    out: list[str] = []
    for _, t in found:
        if t not in out and t not in STOPWORDS and t != name:
            out.append(t)
    return out


_GO_RECEIVER = re.compile(r"^func\s*\(\s*\w*\s*\*?\s*(\w+)")


def _go_receiver(line: str) -> str | None:
    """`func (r *Router) HandleFunc(...)` -> "Router"."""
    m = _GO_RECEIVER.match(line)
    return m.group(1) if m else None


def _bases_in_header(header: list[str]) -> list[str]:
    """Base classes named in a class header (`class A(B, C):`, `extends B implements C`, `: public B`)."""
    text = " ".join(header)
    m = re.search(r"class\s+\w+\s*\(([^)]*)\)", text) or re.search(
        r"(?:extends|implements|:)\s*([^{;]+)", text.split("class", 1)[-1] if "class" in text else text
    )
    if not m:
        return []
    skip = {
        "public",
        "private",
        "protected",
        "virtual",
        "extends",
        "implements",
        "object",
        "Object",
        "metaclass",
    }
    return [w for w in IDENT_RE.findall(m.group(1)) if w not in skip and w[:1].isupper()][:4]


def _uncovered_run(
    start: int, end: int, spans: list[tuple[int, int]], minimum: int = 3
) -> tuple[int, int] | None:
    """The longest run of lines in [start, end] that no span covers (None if shorter than `minimum`)."""
    covered: set[int] = set()
    for a, b in spans:
        covered.update(range(max(a, start), min(b, end) + 1))
    if not covered:
        return start, end
    best: tuple[int, int] | None = None
    run_start = None
    for i in range(start, end + 2):
        if i <= end and i not in covered:
            if run_start is None:
                run_start = i
        elif run_start is not None:
            if best is None or i - 1 - run_start > best[1] - best[0]:
                best = (run_start, i - 1)
            run_start = None
    if best is None or best[1] - best[0] + 1 < minimum:
        return None
    return best


_IMPORT_LINE = re.compile(
    r"^[ \t]*(?:import|from|using|use|package|#[ \t]*include|export[^\n]*\bfrom\b)[^\n]*$"
    r"|^[^\n]*\brequire[ \t]*\([^\n]*$",
    re.MULTILINE,
)


def _without_imports(text: str, language: str | None) -> str:
    """The text with its import lines blanked (multi-line Python and JS import lists included)."""
    text = _IMPORT_LINE.sub("", text)
    if language == "python":
        return re.sub(r"^from[^\n(]*\([^)]*\)", "", text, flags=re.MULTILINE)
    return re.sub(r"^import[^;]*?\bfrom\b[^\n]*$", "", text, flags=re.MULTILINE | re.DOTALL)


#: Languages whose imports name namespaces or packages rather than the names a file uses.
_NAMESPACE_IMPORTS = frozenset({"csharp", "go"})
#: Languages whose files see the types of their package (folder or namespace) without an import.
_PACKAGE_LANGUAGES = frozenset({"java", "csharp", "go"})
_PACKAGE_KINDS = {"go": frozenset({"type", "class", "function"})}
_WORD_SPLIT = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


@functools.lru_cache(maxsize=65536)
def _name_words(name: str) -> tuple[str, ...]:
    """`HttpsServerImpl` -> ("https", "server", "impl"); `max_items` -> ("max", "items")."""
    return tuple(w.lower() for w in _WORD_SPLIT.findall(name))


def _trim_comment_lines(lines: list[str], start: int, end: int, language: str | None) -> tuple[int, int]:
    """A chunk's line range without the comment and blank lines at its ends (a banner or licence
    the chunk happens to hold is not worth its tokens)."""
    code = code_only("\n".join(lines[start : end + 1]), language).split("\n")
    first, last = 0, len(code) - 1
    while first <= last and not code[first].strip():
        first += 1
    while last >= first and not code[last].strip():
        last -= 1
    return start + first, start + last


def _stem(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.split(".", 1)[0]
