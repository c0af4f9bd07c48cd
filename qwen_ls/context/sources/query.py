"""The query every source answers: the cursor, plus what is worked out once around it (identifiers
near the cursor, the resolved imports, the receiver of a member access, the package's other files,
the BM25 query and its hits)."""

from __future__ import annotations

import re
from pathlib import Path

from qwen_ls import syntax
from qwen_ls.context.imports import declared_namespaces, extract_imports, resolve_import
from qwen_ls.context.sources.base import Query, ResolvedImports
from qwen_ls.context.sources.workspace import Workspace
from qwen_ls.context.symbols import code_only, file_language, identifiers

#: Lines before the cursor whose identifiers are looked up as definitions.
LOOKBACK_LINES = 12
#: Lines before the cursor that make the BM25 query.
QUERY_LINES = 30
#: A line `d` lines above the cursor weighs 1 / (1 + d / falloff): near identifiers, BM25 terms.
NEAR_FALLOFF = 4.0
TERMS_FALLOFF = 5.0
#: A BM25 term that is also the receiver before the cursor: code using the same receiver shows
#: what comes after it.
RECEIVER_TERM_BOOST = 2.0
#: BM25 hits asked of the index.
HITS = 40

#: `self`, `this` and friends: a receiver that says nothing about a type.
SELF_NAMES = frozenset({"self", "this", "cls", "super", "Self"})
_RECEIVER = re.compile(r"([A-Za-z_$][\w$]*(?:\s*(?:\.|::|->)\s*[A-Za-z_$][\w$]*)*)\s*(?:\.|::|->)\s*[\w$]*$")
IMPORT_LINE = re.compile(
    r"^[ \t]*(?:import|from|using|use|package|#[ \t]*include|export[^\n]*\bfrom\b)[^\n]*$"
    r"|^[^\n]*\brequire[ \t]*\([^\n]*$",
    re.MULTILINE,
)
#: Languages whose imports name namespaces or packages rather than the names a file uses.
_NAMESPACE_IMPORTS = frozenset({"csharp", "go"})
#: Languages whose files see the types of their package (folder or namespace) without an import.
PACKAGE_LANGUAGES = frozenset({"java", "csharp", "go"})


def build_query(ws: Workspace, key: str, text: str, lines: list[str], line: int, offset: int) -> Query:
    """The query for the cursor at `offset` of `text` (the file `key`, its `lines`, cursor `line`)."""
    s = ws.settings
    col_start = text.rfind("\n", 0, offset) + 1
    language = file_language(key, text)
    doc = ws.open.get(key)
    if doc is not None and doc.language:
        language = doc.language
    typed = text[col_start:offset]
    imports = ResolvedImports()
    if s.imports or s.definitions:
        imports = _resolve_imports(ws, key, text, language)
    chain: tuple[str, ...] = ()
    m = _RECEIVER.search(typed)
    if m:
        chain = tuple(p for p in re.split(r"\s*(?:\.|::|->)\s*", m.group(1)) if p)
    peers = _package_peers(ws, key, text, language) if s.imports or s.definitions else ()
    terms = _terms(lines, line, typed, language, chain)
    hits = tuple(ws.index.search(terms, HITS, exclude_file=key)) if terms else ()
    return Query(
        path=key,
        text=text,
        lines=lines,
        line=line,
        offset=offset,
        col_start=col_start,
        language=language,
        near=_near(lines, line, typed),
        imports=imports,
        chain=chain,
        peers=peers,
        terms=terms,
        hits=hits,
    )


def _near(lines: list[str], line: int, typed: str) -> dict[str, float]:
    """Identifiers near the cursor, weighted by distance (the cursor's line 1.0)."""
    weights: dict[str, float] = {}
    for i in range(max(0, line - LOOKBACK_LINES), line + 1):
        seg = typed if i == line else lines[i]
        w = 1.0 / (1.0 + (line - i) / NEAR_FALLOFF)
        for word in identifiers(seg):
            if w > weights.get(word, 0.0):
                weights[word] = w
    return weights


def _resolve_imports(ws: Workspace, key: str, text: str, language: str | None) -> ResolvedImports:
    bound: dict[str, list[str]] = {}  # local name -> files
    files: dict[str, list[str]] = {}  # file -> members imported from it ([] = whole module)
    for ref in extract_imports(text, language):
        for local, target in resolve_import(ws.index, key, ref, language):
            if ws.excluded(target):
                continue
            members = files.setdefault(target, [])
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
    return ResolvedImports(bound, files)


def _package_peers(ws: Workspace, key: str, text: str, language: str | None) -> tuple[str, ...]:
    """The other files of the current file's package, for languages whose files see their package
    without imports: its folder (Java, Go); for C# the files declaring its namespaces."""
    fam = syntax.family(language)
    if fam not in PACKAGE_LANGUAGES:
        return ()
    index = ws.index
    if fam == "csharp":
        peers = {p for ns in declared_namespaces(text, language) for p in index.in_namespace(ns)}
    else:
        suffix = Path(key).suffix
        peers = {p for p in index.in_dir(key.rsplit("/", 1)[0]) if p.endswith(suffix)}
    peers.discard(key)
    return tuple(sorted(p for p in peers if not ws.excluded(p)))


def _terms(
    lines: list[str], line: int, typed: str, language: str | None, chain: tuple[str, ...]
) -> dict[str, float]:
    """The BM25 query: identifiers of the code before the cursor, weighted by distance."""
    query: dict[str, float] = {}
    first_line = max(0, line - QUERY_LINES)
    window = [*lines[first_line:line], typed]
    window_text = code_only("\n".join(window), language)  # comments are not the code
    if syntax.family(language) in _NAMESPACE_IMPORTS:
        # `using System.Linq;` / `import "net/http"` name whole namespaces that most files of
        # the project share: they make every file's header look alike, not the code
        window_text = IMPORT_LINE.sub("", window_text)
    for i, seg in enumerate(window_text.split("\n"), start=first_line):
        w = 1.0 / (1.0 + (line - i) / TERMS_FALLOFF)
        for word in identifiers(seg):
            query[word] = max(query.get(word, 0.0), w)
    for word in chain:  # code that uses the same receiver shows what comes after it
        if word in query and word not in SELF_NAMES:
            query[word] *= RECEIVER_TERM_BOOST
    return query
