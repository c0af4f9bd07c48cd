"""Source: definitions (in other files) of the identifiers used near the cursor, the nearest first."""

from __future__ import annotations

from dataclasses import dataclass

from qwen_ls.context.sources.base import Candidate, Query
from qwen_ls.context.sources.lookup import definition_candidates
from qwen_ls.context.sources.workspace import Workspace


@dataclass(frozen=True)
class NearDefinitionsWeights:
    #: score of an identifier on the cursor's line (farther ones get their distance weight times this)
    scale: float = 0.8
    #: identifiers looked up, the nearest first
    names: int = 24


WEIGHTS = NearDefinitionsWeights()


class NearDefinitionsSource:
    """What the names around the cursor are."""

    def __init__(self, ws: Workspace, weights: NearDefinitionsWeights = WEIGHTS) -> None:
        self.ws = ws
        self.weights = weights

    def candidates(self, query: Query) -> list[Candidate]:
        if not self.ws.settings.definitions:
            return []
        record = self.ws.index.files.get(query.path)
        local_names = set(record.def_names) if record is not None else set()
        bound = query.imports.bound
        out: list[Candidate] = []
        ranked = sorted(query.near.items(), key=lambda kv: -kv[1])
        for word, w in ranked[: self.weights.names]:
            if word in local_names and word not in bound:
                continue  # defined in this very file (and not imported under that name)
            out += definition_candidates(
                self.ws, query, word, self.weights.scale * w, f"`{word}` is used near the cursor"
            )
        return out
