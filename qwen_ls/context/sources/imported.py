"""Source: the files the current file imports, as outlines (the members imported, or the whole
module), and the definitions of members a module only re-exports.

An import used near the cursor ranks first, then one not used yet before the cursor (what the code
is about to use), then the rest; the current file's own header (C, C++) ranks above them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from qwen_ls.context.sources.base import Candidate, Query
from qwen_ls.context.sources.lookup import definition_candidates, outline_candidates
from qwen_ls.context.sources.query import IMPORT_LINE
from qwen_ls.context.sources.workspace import Workspace
from qwen_ls.context.symbols import IDENT_RE


@dataclass(frozen=True)
class ImportedWeights:
    #: an import whose local name is used near the cursor
    used: float = 0.62
    #: an import not used yet before the cursor
    fresh: float = 0.55
    #: any other import
    other: float = 0.45
    #: each further import, below the one before (the file's import order)
    step: float = 0.005
    #: the current file's own header (`foo.h` for `foo.cpp`)
    own_header: float = 0.85
    #: a re-exported member's definition, relative to its module's outline
    reexported_member: float = 0.95
    #: imported files shown
    files: int = 12
    #: re-exported members looked up per file
    members: int = 6


WEIGHTS = ImportedWeights()
#: How much of the text before the cursor is searched for uses of the imported names.
BODY_CHARS = 200_000


class ImportedSource:
    """What the current file imports."""

    def __init__(self, ws: Workspace, weights: ImportedWeights = WEIGHTS) -> None:
        self.ws = ws
        self.weights = weights

    def candidates(self, query: Query) -> list[Candidate]:
        s = self.ws.settings
        if not s.imports:
            return []
        w = self.weights
        key, bound = query.path, query.imports.bound
        # names imported but not used yet before the cursor: what the code is about to use
        before = query.text[max(0, query.offset - BODY_CHARS) : query.offset]
        body_words = set(IDENT_RE.findall(without_imports(before, query.language)))
        out: list[Candidate] = []
        for n, (target, members) in enumerate(query.imports.files.items()):
            if n >= w.files:
                break
            locals_here = [local for local, files in bound.items() if target in files]
            used = any(query.near.get(local, 0) > 0 for local in locals_here)
            fresh = bool(locals_here) and not any(local in body_words for local in locals_here)
            score = (w.used if used else w.fresh if fresh else w.other) - w.step * n
            reason = "imported" + (
                " and used near the cursor" if used else " and not used yet" if fresh else ""
            )
            if _stem(target) == _stem(key) and target != key:
                score, reason = w.own_header, "the interface of this file (its own header)"
            out += outline_candidates(self.ws, target, score, "import", reason, members=list(members) or None)
            record = self.ws.index.files.get(target)
            if s.definitions and members and record is not None:
                # a member the module only re-exports (`export * from './x'`, a package
                # `__init__`): its definition, wherever it is
                for member in members[: w.members]:
                    if member not in record.def_names:
                        out += definition_candidates(
                            self.ws,
                            query,
                            member,
                            score * w.reexported_member,
                            f"imported through {Path(target).name}",
                        )
        return out


def without_imports(text: str, language: str | None) -> str:
    """The text with its import lines blanked (multi-line Python and JS import lists included)."""
    # Multi-line lists first: the one-line rule would blank only their first line and leave the names.
    if language == "python":
        text = re.sub(r"^[ \t]*from[^\n(]*\([^)]*\)", "", text, flags=re.MULTILINE)
    else:
        text = re.sub(r"^[ \t]*import[^;]*?\bfrom\b[^\n]*$", "", text, flags=re.MULTILINE | re.DOTALL)
    return IMPORT_LINE.sub("", text)


def _stem(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.split(".", 1)[0]
