"""What every context source shares: the query it is asked, the candidate it answers, its protocol.

A source reads the workspace (`Workspace`: the index, the open documents, the recent edit spots) and
answers a `Query` (the cursor and what the engine worked out around it once for all sources) with
`Candidate`s: pieces of other files with a score and a reason. The engine ranks and packs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from qwen_ls.context.types import SourceName

#: One BM25 hit of the workspace index: (absolute path, first line, last line, score), best first.
Hit = tuple[str, int, int, float]


@dataclass
class Candidate:
    """A piece of another file a source proposes; the engine may cut it to fit the budget."""

    path: str  # absolute POSIX path
    start: int  # 0-based inclusive
    end: int  # 0-based inclusive
    lines: list[str]  # the snippet's text, line by line
    source: SourceName
    score: float
    reason: str
    contiguous: bool = True  # real consecutive lines (an outline is not)


@dataclass(frozen=True)
class ResolvedImports:
    """The current file's imports, resolved to indexed workspace files (excluded files left out)."""

    #: local name -> the files it is bound to (`import anims` -> {"anims": [".../animations.py"]})
    bound: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: imported file -> the members imported from it, in import order ([] = the whole module)
    files: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def imported(self) -> set[str]:
        """Every file some local name is bound to."""
        return {f for files in self.bound.values() for f in files}


@dataclass(frozen=True)
class Query:
    """The cursor, and what the engine worked out around it once so that every source agrees on it."""

    path: str  # absolute POSIX path of the current file
    text: str  # the current file's text (before and after the cursor)
    lines: Sequence[str]  # `text` split on "\n"
    line: int  # 0-based line of the cursor
    offset: int  # character offset of the cursor in `text`
    col_start: int  # offset of the cursor line's first character
    language: str | None
    #: identifiers of the lines before the cursor, weighted by distance (the cursor's line 1.0)
    near: Mapping[str, float] = field(default_factory=dict)
    imports: ResolvedImports = field(default_factory=ResolvedImports)
    #: the receiver chain of a member access right before the cursor (`self.scene.` -> self, scene)
    chain: tuple[str, ...] = ()
    #: other files of the current file's package (Java, Go folder; C# namespace), sorted
    peers: tuple[str, ...] = ()
    #: the BM25 query: identifiers of the code before the cursor (comments and namespace imports out)
    terms: Mapping[str, float] = field(default_factory=dict)
    #: the index's chunks most similar to `terms` (the current file left out), best first
    hits: tuple[Hit, ...] = ()

    @property
    def typed(self) -> str:
        """The cursor line up to the cursor."""
        return self.text[self.col_start : self.offset]


class ContextSource(Protocol):
    """One kind of evidence for what the code at the cursor needs; sources are independent."""

    def candidates(self, query: Query) -> list[Candidate]:
        """Candidates for `query`, in the order they were found (ties in score keep it)."""
        ...
