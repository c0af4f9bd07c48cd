"""Source: outlines of the other files of the current file's package (Java, Go folder; C# namespace),
whose API is visible there without imports; those with code most like the cursor's first. They rank
low: they fill what is left of the budget."""

from __future__ import annotations

from dataclasses import dataclass

from qwen_ls.context.sources.base import Candidate, Query
from qwen_ls.context.sources.lookup import outline_candidates
from qwen_ls.context.sources.workspace import Workspace


@dataclass(frozen=True)
class PackageFilesWeights:
    #: score of the package file with the best BM25 hit
    first: float = 0.2
    #: each further file, below the one before
    step: float = 0.01
    #: files shown
    files: int = 6


WEIGHTS = PackageFilesWeights()


class PackageFilesSource:
    """The package around the current file."""

    def __init__(self, ws: Workspace, weights: PackageFilesWeights = WEIGHTS) -> None:
        self.ws = ws
        self.weights = weights

    def candidates(self, query: Query) -> list[Candidate]:
        if not self.ws.settings.imports or not query.peers:
            return []
        w = self.weights
        best_hit: dict[str, float] = {}
        for path, _start, _end, score in query.hits:
            best_hit[path] = max(best_hit.get(path, 0.0), score)
        nearest = sorted(query.peers, key=lambda p: (-best_hit.get(p, 0.0), p))[: w.files]
        out: list[Candidate] = []
        for n, path in enumerate(nearest):
            out += outline_candidates(
                self.ws, path, w.first - w.step * n, "import", "in this package (visible without an import)"
            )
        return out
