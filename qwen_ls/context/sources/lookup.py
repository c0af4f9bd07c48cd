"""Candidates several sources build the same way: a file's outline, a name's definitions, a package's
re-exports. The scores come from the caller; the weights here only say how a lookup spreads them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qwen_ls.context.imports import resolve_import
from qwen_ls.context.outline import outline
from qwen_ls.context.sources.base import Candidate, Query
from qwen_ls.context.sources.workspace import Workspace
from qwen_ls.context.symbols import IDENT_RE, STOPWORDS, Definition
from qwen_ls.context.types import SourceName

#: Definition kinds that hold members (a class is shown by its outline when it is long).
CONTAINER_KINDS = frozenset({"class", "impl", "module", "type"})
#: Longer classes are shown as an outline of their members, not their text.
SMALL_CLASS_LINES = 30


@dataclass(frozen=True)
class LookupWeights:
    """How a definition lookup shares out the score it is given."""

    #: a definition in a file the current file does not import (and the name was not inferred)
    not_imported: float = 0.85
    #: the classes a found definition mentions or derives from, per level followed
    followed: float = 0.93
    #: a Go type's method set (declared outside the type), next to the type
    go_methods: float = 0.97
    #: each further re-exported file of a package, below the one before
    reexport_step: float = 0.01


WEIGHTS = LookupWeights()


def outline_candidates(
    ws: Workspace,
    path: str,
    score: float,
    source: SourceName,
    reason: str,
    members: list[str] | None = None,
) -> list[Candidate]:
    """The outline of a file (only `members` and what they hold, if given and defined at top level)."""
    record = ws.index.files.get(path)
    if record is None:
        return []
    flines = ws.file_lines(path)
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
                    i for i, c in enumerate(defs) if d.start_line <= c.start_line and c.end_line <= d.end_line
                )
    if not defs:
        end = min(len(flines), ws.settings.max_snippet_lines) - 1
        return [Candidate(path, 0, max(0, end), flines[: end + 1], source, score, reason)]
    rows = outline("\n".join(flines), defs, record.language, only=only)
    if not rows:
        return []
    rows = rows[: max(8, 2 * ws.settings.max_snippet_lines)]
    return [
        Candidate(
            path, rows[0][0], rows[-1][0], [t for _, t in rows], source, score, reason + " (outline)", False
        )
    ]


def reexport_candidates(
    ws: Workspace, path: str, score: float, reason: str, weights: LookupWeights = WEIGHTS
) -> list[Candidate]:
    """A package `__init__.py` / `index.ts` that mostly re-exports: outlines of what it imports."""
    record = ws.index.files.get(path)
    if record is None or len([d for d in record.defs if d.depth == 0 and d.kind != "variable"]) >= 3:
        return []
    out: list[Candidate] = []
    targets: list[str] = []
    for ref in record.imports:
        for _local, target in resolve_import(ws.index, path, ref, record.language):
            if target not in targets and target != path and not ws.excluded(target):
                targets.append(target)
    for n, target in enumerate(targets[:6]):
        out += outline_candidates(ws, target, score - weights.reexport_step * n, "import", reason)
    return out


def definition_candidates(
    ws: Workspace,
    query: Query,
    name: str,
    score: float,
    reason: str,
    follow: int = 0,
    exact: bool = False,
    weights: LookupWeights = WEIGHTS,
) -> list[Candidate]:
    """Snippets of the definitions of `name` in other files. With `follow`, also the classes a
    found definition mentions (its type) and a class's base classes, `follow` levels deep.
    `exact`: the name was inferred from code (a type, a base class), so an import is no evidence."""
    owners = [p for p in ws.index.owners(name) if p != query.path and not ws.excluded(p)]
    if not owners:
        return []
    imported = query.imports.imported()
    if len(owners) > 6:
        owners = [p for p in owners if p in imported]
        if not owners:
            return []
    owners.sort(key=lambda p: (p not in imported, p))
    out: list[Candidate] = []
    spread = 1.0 / (len(owners) ** 0.5)
    for path in owners[:3]:
        record = ws.index.files.get(path)
        if record is None:
            continue
        flines = ws.file_lines(path)
        if flines is None:
            continue
        boost = 1.0 if exact or path in imported else weights.not_imported
        named = [d for d in record.defs if d.name == name]
        if exact and any(d.kind in CONTAINER_KINDS for d in named):
            named = [d for d in named if d.kind in CONTAINER_KINDS]  # the class, not its constructors
        for d in named[:2]:
            cand = definition_snippet(ws, path, flines, record.defs, record.language, d)
            if cand is None:
                continue
            cand.score = score * boost * spread
            cand.reason = f"defines `{name}`; {reason}"
            out.append(cand)
            if record.language == "go" and d.kind in ("type", "class"):
                out += _go_method_set(ws, path, flines, record.defs, name, cand.score, reason, weights)
            if follow > 0:
                out += _followed(ws, query, path, flines, d, cand, name, follow, weights)
    return out


def _go_method_set(
    ws: Workspace,
    path: str,
    flines: list[str],
    defs: list[Definition],
    name: str,
    score: float,
    reason: str,
    weights: LookupWeights,
) -> list[Candidate]:
    """Go declares methods outside the type: its method set, from the same file."""
    methods = [m.name for m in defs if m.kind == "function" and _go_receiver(flines[m.start_line]) == name]
    if not methods:
        return []
    return outline_candidates(
        ws,
        path,
        score * weights.go_methods,
        "definition",
        f"the methods of `{name}`; {reason}",
        members=[name, *methods],
    )


def _followed(
    ws: Workspace,
    query: Query,
    path: str,
    flines: list[str],
    d: Definition,
    cand: Candidate,
    name: str,
    follow: int,
    weights: LookupWeights,
) -> list[Candidate]:
    """The classes a definition derives from (a class) or mentions (anything else), one level down."""
    if d.kind in ("class", "impl"):
        related = _bases_in_header(flines[d.start_line : d.body_line + 1])
        why = f"a base class of `{name}`"
    else:
        head = "\n".join(cand.lines[:4])
        related = [w for w in dict.fromkeys(IDENT_RE.findall(head)) if w[:1].isupper() and w != name]
        why = f"mentioned by the definition of `{name}`"
    out: list[Candidate] = []
    for word in related[:3]:
        if word in STOPWORDS:
            continue
        for sub in definition_candidates(
            ws, query, word, cand.score * weights.followed, why, follow - 1, exact=True, weights=weights
        ):
            if sub.path != path or sub.start != cand.start:
                out.append(sub)
    return out


def definition_snippet(
    ws: Workspace, path: str, flines: list[str], defs: list[Definition], language: str | None, d: Definition
) -> Candidate | None:
    """The text of one definition (a long class: its outline), score and reason left to the caller."""
    max_lines = max(4, ws.settings.max_snippet_lines)
    if d.kind in ("attribute", "field") and d.container:
        container = next(
            (
                c
                for c in defs
                if c.name == d.container
                and c.kind in CONTAINER_KINDS
                and c.start_line <= d.start_line <= c.end_line
            ),
            None,
        )
        if container is not None:
            d = container
    if d.kind in CONTAINER_KINDS and d.end_line - d.start_line + 1 > SMALL_CLASS_LINES:
        members = {i for i, c in enumerate(defs) if d.start_line <= c.start_line and c.end_line <= d.end_line}
        rows = outline("\n".join(flines), defs, language, only=members)
        if not rows:
            return None
        rows = rows[:max_lines]
        return Candidate(path, rows[0][0], rows[-1][0], [t for _, t in rows], "definition", 0.0, "", False)
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
    return Candidate(path, start, end, flines[start : end + 1], "definition", 0.0, "")


_GO_RECEIVER = re.compile(r"^func\s*\(\s*\w*\s*\*?\s*(\w+)")


def _go_receiver(line: str) -> str | None:
    """`func (r *Router) HandleFunc(...)` -> "Router"."""
    m = _GO_RECEIVER.match(line)
    return m.group(1) if m else None


_BASE_SKIP = frozenset(
    {"public", "private", "protected", "virtual", "extends", "implements", "object", "Object", "metaclass"}
)


def _bases_in_header(header: list[str]) -> list[str]:
    """Base classes named in a class header (`class A(B, C):`, `extends B implements C`, `: public B`)."""
    text = " ".join(header)
    m = re.search(r"class\s+\w+\s*\(([^)]*)\)", text) or re.search(
        r"(?:extends|implements|:)\s*([^{;]+)", text.split("class", 1)[-1] if "class" in text else text
    )
    if not m:
        return []
    return [w for w in IDENT_RE.findall(m.group(1)) if w not in _BASE_SKIP and w[:1].isupper()][:4]
