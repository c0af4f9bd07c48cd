"""Source: chunks of the workspace most similar (BM25 over identifiers) to the code before the cursor.

A chunk of an open document is labelled "open" (switch `openDocuments`), any other "similar" (switch
`similar`). At most three chunks come from one file, each further one worth less, so the context
spreads over several files.
"""

from __future__ import annotations

from dataclasses import dataclass

from qwen_ls.context.sources.base import Candidate, Query
from qwen_ls.context.sources.workspace import Workspace
from qwen_ls.context.symbols import code_only, file_language


@dataclass(frozen=True)
class SimilarWeights:
    #: base score of a chunk of an open document (what the user works on)
    open_prior: float = 0.35
    #: base score of any other chunk
    similar_prior: float = 0.25
    #: added for the best hit, the others in proportion to their BM25 score
    closeness: float = 0.4
    #: each further chunk of the same file is worth this much of the one before
    same_file: float = 0.85
    #: chunks per file
    per_file: int = 3


WEIGHTS = SimilarWeights()


class SimilarSource:
    """Code like the code before the cursor."""

    def __init__(self, ws: Workspace, weights: SimilarWeights = WEIGHTS) -> None:
        self.ws = ws
        self.weights = weights

    def candidates(self, query: Query) -> list[Candidate]:
        s, w = self.ws.settings, self.weights
        hits = query.hits
        top = hits[0][3] if hits else 1.0
        per_file: dict[str, int] = {}
        out: list[Candidate] = []
        for path, start, end, score in hits:
            is_open = self.ws.is_open(path)
            if is_open and not s.open_documents:
                continue
            if not is_open and not s.similar:
                continue
            nth = per_file.get(path, 0)
            if nth >= w.per_file:
                continue
            per_file[path] = nth + 1
            flines = self.ws.file_lines(path)
            if flines is None:
                continue
            closeness = score / top
            prior = w.open_prior if is_open else w.similar_prior
            end = min(end, len(flines) - 1)
            start, end = trim_comment_lines(flines, start, end, file_language(path))
            if end < start:
                continue
            out.append(
                Candidate(
                    path,
                    start,
                    end,
                    flines[start : end + 1],
                    "open" if is_open else "similar",
                    (prior + w.closeness * closeness) * w.same_file**nth,  # prefer spread over many files
                    f"similar to the code before the cursor ({closeness:.2f} of the best)",
                )
            )
        return out


def trim_comment_lines(lines: list[str], start: int, end: int, language: str | None) -> tuple[int, int]:
    """A chunk's line range without the comment and blank lines at its ends (a banner or licence
    the chunk happens to hold is not worth its tokens)."""
    code = code_only("\n".join(lines[start : end + 1]), language).split("\n")
    first, last = 0, len(code) - 1
    while first <= last and not code[first].strip():
        first += 1
    while last >= first and not code[last].strip():
        last -= 1
    return start + first, start + last
