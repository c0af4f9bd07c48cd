"""The workspace index: which files exist, their definitions and imports, and a BM25 index of chunks.

Bounded by design: at most `max_files` files of at most `max_file_bytes`; file text is not kept (snippet
text is read back from disk, or from the open document), only definitions, imports and the postings
of identifier terms, stored as compact arrays. Updates are incremental: a changed file's chunks are
marked dead and new ones appended; the postings are compacted when too many are dead.

Thread-safe: parsing happens outside the lock, only the insertion takes it.
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import re
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qwen_ls import syntax
from qwen_ls.context.ignore import PathFilter, contains_secret, looks_binary_or_generated
from qwen_ls.context.imports import ImportRef, declared_namespaces, extract_imports
from qwen_ls.context.symbols import (
    Definition,
    code_only,
    definitions,
    file_language,
    header_comment_lines,
    identifiers,
)

#: Project files read for import resolution (not indexed as code).
CONFIG_FILES = ("go.mod", "tsconfig.json", "jsconfig.json")

#: Extensions the index reads: source code only (data files add noise, not definitions).
CODE_EXTENSIONS = frozenset(syntax.EXTENSIONS)

_BM25_K1 = 1.2
_BM25_B = 0.75


@dataclass
class FileRecord:
    path: str  # absolute POSIX path
    root: str
    rel: str
    language: str | None
    mtime_ns: int
    size: int
    defs: list[Definition]
    imports: list[ImportRef]
    n_lines: int
    version: int = 0
    chunk_ids: list[int] = field(default_factory=list)
    def_names: frozenset[str] = frozenset()
    namespaces: tuple[str, ...] = ()  # C# namespaces the file declares


@dataclass
class ParsedFile:
    """Everything computed from a file's text outside the index lock."""

    defs: list[Definition]
    imports: list[ImportRef]
    n_lines: int
    chunks: list[tuple[int, int, list[str], int]]  # (start line, end line, unique terms, token count)
    namespaces: tuple[str, ...] = ()


def parse_file(text: str, language: str | None, chunk_lines: int, max_chunks: int = 600) -> ParsedFile:
    lines = text.split("\n")
    # chunks start after the comment block at the top: a licence is the same words in every file
    header = header_comment_lines(lines)
    stride = max(2, chunk_lines // 2)
    # identifiers per block of `stride` lines; a chunk is two consecutive blocks (chunks overlap by half)
    code = code_only(text, language).split("\n")  # similarity is over code, not comments
    blocks = [identifiers("\n".join(code[i : i + stride])) for i in range(header, len(lines), stride)]
    per = chunk_lines // stride
    chunks: list[tuple[int, int, list[str], int]] = []
    for b in range(0, max(1, len(blocks) - per + 1)):
        start = header + b * stride
        end = min(len(lines), start + chunk_lines) - 1
        terms: list[str] = []
        for part in blocks[b : b + per]:
            terms.extend(part)
        if not terms:
            continue
        chunks.append((start, end, list(set(terms)), len(terms)))
        if len(chunks) >= max_chunks:
            break
    return ParsedFile(
        definitions(text, language),
        extract_imports(text, language),
        len(lines),
        chunks,
        declared_namespaces(text, language),
    )


def parse_tsconfig_paths(raw: str, directory: str) -> list[tuple[str, list[str]]]:
    """(pattern, absolute target patterns) from a tsconfig's `compilerOptions.paths`, with a `baseUrl`
    alone meaning `*` -> `baseUrl/*`. tsconfig is JSON with comments and trailing commas."""
    text = re.sub(r",(\s*[}\]])", r"\1", code_only(raw, "javascript"))
    try:
        options = json.loads(text).get("compilerOptions") or {}
    except (ValueError, AttributeError):
        return []
    if not isinstance(options, dict):
        return []
    base_url = options.get("baseUrl")
    paths = options.get("paths")
    base = posixpath.normpath(posixpath.join(directory, base_url if isinstance(base_url, str) else "."))
    out: list[tuple[str, list[str]]] = []
    if isinstance(paths, dict):
        for pattern, targets in paths.items():
            if isinstance(pattern, str) and isinstance(targets, list):
                out.append(
                    (
                        pattern,
                        [posixpath.normpath(posixpath.join(base, t)) for t in targets if isinstance(t, str)],
                    )
                )
    if isinstance(base_url, str):
        out.append(("*", [posixpath.join(base, "*")]))
    return out


class _Growable:
    """A numpy array with amortised appends."""

    def __init__(self, dtype: type) -> None:
        self.data: np.ndarray = np.zeros(1024, dtype=dtype)
        self.n = 0

    def append(self, value: float) -> int:
        if self.n == len(self.data):
            self.data = np.concatenate([self.data, np.zeros(len(self.data), dtype=self.data.dtype)])
        self.data[self.n] = value
        self.n += 1
        return self.n - 1

    def view(self) -> np.ndarray:
        return self.data[: self.n]


class WorkspaceIndex:
    """Files, symbols and chunk postings of the workspace roots."""

    def __init__(
        self,
        path_filter: PathFilter,
        max_files: int,
        max_file_bytes: int,
        chunk_lines: int,
        max_total_bytes: int = 48 * 1024 * 1024,
    ) -> None:
        self.filter = path_filter
        self.max_files = max_files
        self.max_total_bytes = max_total_bytes
        self.total_bytes = 0
        self.max_file_bytes = max_file_bytes
        self.chunk_lines = chunk_lines
        self.lock = threading.RLock()
        self.files: dict[str, FileRecord] = {}
        self._file_ids: dict[str, int] = {}
        self._paths: list[str | None] = []
        self._by_name: dict[str, set[str]] = {}
        self._by_dir: dict[str, set[str]] = {}
        self._symbols: dict[str, set[str]] = {}
        self._namespaces: dict[str, set[str]] = {}
        self._go_modules: dict[str, str] = {}
        self._js_aliases: dict[str, list[tuple[str, list[str]]]] = {}  # tsconfig folder -> paths
        self._postings: dict[str, array] = {}
        self._chunk_file = _Growable(np.int32)
        self._chunk_start = _Growable(np.int32)
        self._chunk_end = _Growable(np.int32)
        self._chunk_len = _Growable(np.float32)
        self._alive = _Growable(np.bool_)
        self._dead = 0
        self._total_len = 0.0
        self._n_alive = 0
        self.generation = 0
        self.skipped: dict[str, int] = {}
        self.truncated = False
        self._lines_cache: OrderedDict[tuple[str, int], list[str]] = OrderedDict()

    # ------------------------------------------------------------------------------- FileSet view

    def exists(self, path: str) -> bool:
        return path in self.files

    def by_name(self, name: str) -> list[str]:
        return sorted(self._by_name.get(name, ()))

    def in_dir(self, directory: str) -> list[str]:
        return sorted(self._by_dir.get(directory, ()))

    def root_dirs(self) -> list[str]:
        return [r.as_posix() for r in self.filter.roots]

    def go_modules(self) -> list[tuple[str, str]]:
        return list(self._go_modules.items())

    def js_aliases(self) -> list[tuple[str, str, list[str]]]:
        return [(d, pattern, targets) for d, rows in self._js_aliases.items() for pattern, targets in rows]

    def in_namespace(self, namespace: str) -> list[str]:
        return sorted(self._namespaces.get(namespace, ()))

    def by_suffix_dir(self, tail: str) -> list[str]:
        end = "/" + tail.strip("/")
        return sorted(p for d, paths in self._by_dir.items() if d.endswith(end) for p in paths)

    # ------------------------------------------------------------------------------- walking

    def walk(
        self, cancel: Callable[[], bool] | None = None, starts: Sequence[tuple[Path, Path]] | None = None
    ) -> Iterator[tuple[Path, Path]]:
        """(root, file) pairs the index may read, in a deterministic order; never leaves the roots."""
        roots = self.filter.roots
        real_roots = [Path(os.path.realpath(r)) for r in roots]
        count = 0
        for root, top in starts if starts is not None else [(r, r) for r in roots]:
            for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
                if cancel is not None and cancel():
                    return
                base = Path(dirpath)
                dirnames[:] = sorted(
                    d
                    for d in dirnames
                    if not os.path.islink(base / d) and not self.filter.dir_excluded(base / d, root)
                )
                for config in CONFIG_FILES:
                    if config in filenames:
                        self.note_config(base / config)
                for name in sorted(filenames):
                    full = base / name
                    if posixpath.splitext(name)[1].lower() not in CODE_EXTENSIONS:
                        continue
                    if os.path.islink(full):
                        real = Path(os.path.realpath(full))
                        if not any(real == r or r in real.parents for r in real_roots):
                            self._skip("link outside the workspace")
                            continue
                    if self.filter.is_excluded(full):
                        self._skip("excluded")
                        continue
                    count += 1
                    if count > self.max_files + 1000:  # index_file enforces the cap on files it keeps
                        self.truncated = True
                        return
                    yield root, full

    def walk_dir(self, root: Path, directory: Path) -> Iterator[tuple[Path, Path]]:
        """Like `walk`, for one folder inside `root` (a folder created after the build)."""
        return self.walk(starts=[(root, directory)])

    def _skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    def note_config(self, path: Path, deleted: bool = False) -> None:
        """Read (or, when deleted, forget) a project file that steers import resolution: `go.mod`,
        `tsconfig.json`, `jsconfig.json`."""
        if path.name == "go.mod":
            self._note_go_mod(path, deleted)
        elif deleted:
            with self.lock:
                self._js_aliases.pop(path.parent.as_posix(), None)
        else:
            self._note_tsconfig(path)

    def _note_go_mod(self, path: Path, deleted: bool = False) -> None:
        folder = path.parent.as_posix()
        module = None
        if not deleted:
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    for line in fh:
                        m = re.match(r"\s*module\s+(\S+)", line)
                        if m:
                            module = m.group(1)
                            break
            except OSError:
                pass
        with self.lock:
            for old in [m for m, d in self._go_modules.items() if d == folder]:
                del self._go_modules[old]
            if module is not None:
                self._go_modules[module] = folder

    def _note_tsconfig(self, path: Path) -> None:
        """`compilerOptions.paths` and `baseUrl` of a tsconfig/jsconfig: how bare specifiers such as
        `@components/button` map to folders."""
        try:
            if path.stat().st_size > 256 * 1024:
                return
            raw = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        aliases = parse_tsconfig_paths(raw, path.parent.as_posix())
        with self.lock:
            if aliases:
                self._js_aliases[path.parent.as_posix()] = aliases
            else:
                self._js_aliases.pop(path.parent.as_posix(), None)

    def read_text(self, path: Path) -> str | None:
        """A file's text if the index may hold it (size, binary, generated, secret checks)."""
        try:
            st = path.stat()
            if st.st_size > self.max_file_bytes:
                self._skip("too large")
                return None
            with open(path, "rb") as fh:
                data = fh.read(self.max_file_bytes + 1)
        except OSError:
            return None
        why = looks_binary_or_generated(data[:8192])
        if why is not None:
            self._skip(why)
            return None
        text = data.decode("utf-8", errors="replace")
        if contains_secret(text):
            self._skip("secret")
            return None
        return text

    # ------------------------------------------------------------------------------- updates

    def index_file(self, root: Path, path: Path, text: str | None = None) -> bool:
        """(Re)index one file, from `text` when given (an open document), else from disk."""
        from_disk = text is None
        if text is None:
            text = self.read_text(path)
            if text is None:
                self.remove(path)
                return False
        elif contains_secret(text):
            self.remove(path)
            return False
        try:
            st = path.stat()
            mtime, size = st.st_mtime_ns, st.st_size
        except OSError:
            if from_disk:
                return False
            mtime, size = 0, len(text)
        language = file_language(path.as_posix(), text)
        parsed = parse_file(text, language, self.chunk_lines)
        key = path.as_posix()
        rel = path.relative_to(root).as_posix() if root in path.parents else path.name
        with self.lock:
            old = self.files.get(key)
            grow = size - (old.size if old is not None else 0)
            full = len(self.files) >= self.max_files or self.total_bytes + grow > self.max_total_bytes
            if old is None and full:
                self.truncated = True
                return False
            self.total_bytes += grow
            self._drop_chunks(old)
            if old is not None:
                self._drop_symbols(old)
            fid = self._file_ids.get(key)
            if fid is None:
                fid = len(self._paths)
                self._paths.append(key)
                self._file_ids[key] = fid
            record = FileRecord(
                path=key,
                root=root.as_posix(),
                rel=rel,
                language=language,
                mtime_ns=mtime,
                size=size,
                defs=parsed.defs,
                imports=parsed.imports,
                n_lines=parsed.n_lines,
                version=(old.version + 1) if old is not None else 0,
                def_names=frozenset(d.name for d in parsed.defs),
                namespaces=parsed.namespaces,
            )
            for start, end, terms, n_terms in parsed.chunks:
                cid = self._chunk_file.append(fid)
                self._chunk_start.append(start)
                self._chunk_end.append(end)
                self._chunk_len.append(n_terms)
                self._alive.append(True)
                self._total_len += n_terms
                self._n_alive += 1
                record.chunk_ids.append(cid)
                for term in terms:
                    plist = self._postings.get(term)
                    if plist is None:
                        plist = self._postings[term] = array("i")
                    plist.append(cid)
            self.files[key] = record
            self._by_name.setdefault(path.name, set()).add(key)
            self._by_dir.setdefault(posixpath.dirname(key), set()).add(key)
            for name in record.def_names:
                self._symbols.setdefault(name, set()).add(key)
            for namespace in record.namespaces:
                self._namespaces.setdefault(namespace, set()).add(key)
            self.generation += 1
            self._lines_cache.pop((key, record.version - 1), None)
            self._maybe_compact()
        return True

    def _drop_chunks(self, record: FileRecord | None) -> None:
        if record is None:
            return
        alive = self._alive.data
        lens = self._chunk_len.data
        for cid in record.chunk_ids:
            if alive[cid]:
                alive[cid] = False
                self._dead += 1
                self._n_alive -= 1
                self._total_len -= float(lens[cid])
        record.chunk_ids = []

    def _drop_symbols(self, record: FileRecord) -> None:
        for name in record.def_names:
            owners = self._symbols.get(name)
            if owners is not None:
                owners.discard(record.path)
                if not owners:
                    del self._symbols[name]
        for namespace in record.namespaces:
            members = self._namespaces.get(namespace)
            if members is not None:
                members.discard(record.path)
                if not members:
                    del self._namespaces[namespace]

    def remove(self, path: Path) -> None:
        key = path.as_posix()
        with self.lock:
            record = self.files.pop(key, None)
            if record is None:
                return
            self.total_bytes -= record.size
            self._drop_chunks(record)
            self._drop_symbols(record)
            self._by_name.get(path.name, set()).discard(key)
            self._by_dir.get(posixpath.dirname(key), set()).discard(key)
            self.generation += 1

    def _maybe_compact(self) -> None:
        if self._dead < 20000 or self._dead < self._chunk_file.n // 2:
            return
        alive = self._alive.view()
        for term in list(self._postings):
            ids = np.frombuffer(self._postings[term], dtype=np.int32)
            keep = ids[alive[ids]]
            if len(keep):
                self._postings[term] = array("i", keep.tobytes())
            else:
                del self._postings[term]
        self._dead = 0  # dead chunk slots stay allocated (ids are stable); only postings shrink

    def clear(self) -> None:
        with self.lock:
            self.__init__(  # type: ignore[misc]
                self.filter, self.max_files, self.max_file_bytes, self.chunk_lines, self.max_total_bytes
            )

    # ------------------------------------------------------------------------------- queries

    def owners(self, name: str) -> set[str]:
        return self._symbols.get(name, set())

    def lines(self, path: str) -> list[str] | None:
        """The file's lines as indexed (read back from disk; a small LRU keeps recent ones)."""
        record = self.files.get(path)
        if record is None:
            return None
        key = (path, record.version)
        cached = self._lines_cache.get(key)
        if cached is not None:
            self._lines_cache.move_to_end(key)
            return cached
        try:
            with open(path, "rb") as fh:
                data = fh.read(self.max_file_bytes + 1)
        except OSError:
            return None
        lines = data.decode("utf-8", errors="replace").split("\n")
        self._lines_cache[key] = lines
        while len(self._lines_cache) > 256:
            self._lines_cache.popitem(last=False)
        return lines

    def put_lines(self, path: str, lines: list[str]) -> None:
        """Text of an open document, so snippets come from its in-memory (unsaved) state."""
        record = self.files.get(path)
        if record is not None:
            self._lines_cache[(path, record.version)] = lines
            self._lines_cache.move_to_end((path, record.version))

    def search(
        self, query: dict[str, float], top: int, exclude_file: str | None = None
    ) -> list[tuple[str, int, int, float]]:
        """BM25 over chunk identifier sets: top (path, start line, end line, score)."""
        n = self._chunk_file.n
        if n == 0 or not query:
            return []
        n_alive = max(1, self._n_alive)
        avg = max(1.0, self._total_len / n_alive)
        scores = np.zeros(n, dtype=np.float32)
        for term, weight in query.items():
            plist = self._postings.get(term)
            if plist is None:
                continue
            df = len(plist)
            if df > 0.25 * n_alive and n_alive > 200:
                continue  # as good as a stopword, and the most expensive to add up
            idf = math.log(1.0 + (n_alive - df + 0.5) / (df + 0.5))
            ids = np.frombuffer(plist, dtype=np.int32)
            scores[ids] += idf * weight
        lens = self._chunk_len.view()
        norm = (_BM25_K1 + 1.0) / (1.0 + _BM25_K1 * (1.0 - _BM25_B + _BM25_B * lens / avg))
        scores *= norm
        scores *= self._alive.view()
        if exclude_file is not None and exclude_file in self._file_ids:
            fid = self._file_ids[exclude_file]
            scores[self._chunk_file.view() == fid] = 0.0
        k = min(top, n)
        idx = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        out: list[tuple[str, int, int, float]] = []
        files = self._chunk_file.view()
        starts = self._chunk_start.view()
        ends = self._chunk_end.view()
        for cid in idx:
            s = float(scores[cid])
            if s <= 0:
                break
            p = self._paths[int(files[cid])]
            if p is None:
                continue
            out.append((p, int(starts[cid]), int(ends[cid]), s))
        return out

    def memory_bytes(self) -> int:
        """A rough count of what the index holds (the benchmark measures the real figure)."""
        total = sum(
            a.data.nbytes
            for a in (self._chunk_file, self._chunk_start, self._chunk_end, self._chunk_len, self._alive)
        )
        total += sum(len(p) * 4 + 64 for p in self._postings.values())
        total += sum(200 + 120 * len(r.defs) for r in self.files.values())
        return total

    def stats(self) -> dict[str, object]:
        with self.lock:
            return {
                "files": len(self.files),
                "bytes": self.total_bytes,
                "chunks": self._n_alive,
                "terms": len(self._postings),
                "symbols": len(self._symbols),
                "skipped": dict(self.skipped),
                "truncated": self.truncated,
            }


def index_paths(index: WorkspaceIndex, items: Sequence[tuple[Path, Path]]) -> None:
    for root, path in items:
        index.index_file(root, path)
