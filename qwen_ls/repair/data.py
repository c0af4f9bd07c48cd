"""The small frozen value types of the repair core: diagnostics in, regions, edits and verdicts out.

Positions are zero-based lines and Python `str` indices within a line; the LSP layer converts from and
to the negotiated position encoding at its boundary.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnostic:
    """A diagnostic from any source (a linter, a compiler, another language server)."""

    start_line: int
    start_character: int
    end_line: int
    end_character: int
    message: str
    code: str | None = None
    source: str | None = None
    #: LSP severity: 1 error, 2 warning, 3 information, 4 hint.
    severity: int | None = None

    def short_message(self, limit: int = 60) -> str:
        """The first line of the message, shortened for an action title."""
        first = self.message.strip().splitlines()[0] if self.message.strip() else "problem"
        return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"

    def label(self) -> str:
        """`message [source code]`, the way the prompt and the user see it."""
        tag = " ".join(part for part in (self.source, self.code) if part)
        return f"{self.message.strip()} [{tag}]" if tag else self.message.strip()


@dataclass(frozen=True)
class Region:
    """Whole lines `start_line..end_line` (inclusive) that the model may rewrite.

    `start`/`end` are offsets into the document: `end` includes the line ending of `end_line`.
    """

    start_line: int
    end_line: int
    start: int
    end: int
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def n_lines(self) -> int:
        return self.end_line - self.start_line + 1

    def text(self, document: str) -> str:
        return document[self.start : self.end]


@dataclass(frozen=True)
class TextEdit:
    """Replace `[start, end)` of the original document with `new_text` (lines/characters zero-based)."""

    start_line: int
    start_character: int
    end_line: int
    end_character: int
    new_text: str


@dataclass(frozen=True)
class Verdict:
    """What verification decided about one candidate, and why (shown to the user when rejected)."""

    accepted: bool
    reason: str
    #: Each check that ran, in order, as `name: outcome` lines (for logs and the benchmark).
    checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class RepairResult:
    """The outcome of one repair: the verdict, and when accepted the minimal edits to apply."""

    accepted: bool
    reason: str
    edits: tuple[TextEdit, ...] = ()
    region: Region | None = None
    #: The region's replacement text as extracted from the model (for logs), and the full new document.
    candidate: str | None = None
    new_document: str | None = None
    checks: tuple[str, ...] = ()
    attempts: int = 0
