"""Source: regions of other files the user edited or completed at recently, the newest first.

This is the simplest source and the template for new ones: one module with its named weights, one
class with `candidates(query)`, one line in `sources/__init__.py`'s `default_sources`.
"""

from __future__ import annotations

from dataclasses import dataclass

from qwen_ls.context.sources.base import Candidate, Query
from qwen_ls.context.sources.workspace import Workspace


@dataclass(frozen=True)
class RecentWeights:
    #: score of the newest spot of the most recently edited file
    newest: float = 0.5
    #: each older file is worth this much of the one edited after it
    older_file: float = 0.8
    #: the second spot of a file is worth this much of its newest
    older_spot: float = 0.8
    #: spots shown per file
    spots: int = 2
    #: lines around a spot (above and below)
    radius: int = 8


WEIGHTS = RecentWeights()


class RecentEditsSource:
    """Where the user was working a moment ago."""

    def __init__(self, ws: Workspace, weights: RecentWeights = WEIGHTS) -> None:
        self.ws = ws
        self.weights = weights

    def candidates(self, query: Query) -> list[Candidate]:
        if not self.ws.settings.recent_edits:
            return []
        w = self.weights
        out: list[Candidate] = []
        for rank, (path, spots) in enumerate(reversed(list(self.ws.recent.items()))):
            if path == query.path or self.ws.excluded(path):
                continue
            flines = self.ws.file_lines(path)
            if not flines:
                continue
            for j, (ln, _t) in enumerate(spots[: w.spots]):
                a = max(0, ln - w.radius)
                b = min(len(flines) - 1, ln + w.radius)
                out.append(
                    Candidate(
                        path,
                        a,
                        b,
                        flines[a : b + 1],
                        "recent",
                        w.newest * (w.older_file**rank) * (w.older_spot**j),
                        "edited or completed here recently",
                    )
                )
        return out
