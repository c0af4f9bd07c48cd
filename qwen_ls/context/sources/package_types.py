"""Source: types of the current file's package (Java, Go) or namespace (C#), visible without an import,
whose names share words with the code near the cursor (`HttpsServer` near the cursor ->
`HttpsServerImpl`)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from qwen_ls import syntax
from qwen_ls.context.sources.base import Candidate, Query
from qwen_ls.context.sources.lookup import CONTAINER_KINDS, definition_candidates
from qwen_ls.context.sources.workspace import Workspace


@dataclass(frozen=True)
class PackageTypesWeights:
    #: score of a type whose every name word is on the cursor's line (others: their share times this)
    scale: float = 0.6
    #: the least share of a type name's words used near the cursor (distance-weighted)
    min_similarity: float = 0.5
    #: types brought, the most similar first
    types: int = 3
    #: package files looked at
    files: int = 400


WEIGHTS = PackageTypesWeights()
#: Definition kinds that count as a package's types, per language family (others: containers).
PACKAGE_KINDS = {"go": frozenset({"type", "class", "function"})}


class PackageTypesSource:
    """Same-package types named like the code at the cursor."""

    def __init__(self, ws: Workspace, weights: PackageTypesWeights = WEIGHTS) -> None:
        self.ws = ws
        self.weights = weights

    def candidates(self, query: Query) -> list[Candidate]:
        if not self.ws.settings.definitions or not query.peers:
            return []
        out: list[Candidate] = []
        for name, sim in self.package_types(query.peers, query.language, query.near)[: self.weights.types]:
            out += definition_candidates(
                self.ws,
                query,
                name,
                self.weights.scale * sim,
                "in this package, named like the code here",
                exact=True,
            )
        return out

    def package_types(
        self, peers: tuple[str, ...], language: str | None, weights: Mapping[str, float]
    ) -> list[tuple[str, float]]:
        """Top-level types of the package's files, scored by the share of their name's words used
        near the cursor."""
        index = self.ws.index
        if not weights:
            return []
        near: dict[str, float] = {}
        for word, w in weights.items():
            for part in name_words(word):
                near[part] = max(near.get(part, 0.0), w)
        kinds = PACKAGE_KINDS.get(syntax.family(language) or "", CONTAINER_KINDS)
        scored: dict[str, float] = {}
        for path in peers[: self.weights.files]:
            record = index.files.get(path)
            if record is None:
                continue
            for d in record.defs:
                if d.depth != 0 or d.kind not in kinds or d.name in weights:
                    continue  # names used near the cursor are looked up as definitions already
                parts = name_words(d.name)
                if len(parts) < 2:
                    continue  # one word is no evidence
                sim = sum(near.get(part, 0.0) for part in parts) / len(parts)
                if sim >= self.weights.min_similarity and sim > scored.get(d.name, 0.0):
                    scored[d.name] = sim
        return sorted(scored.items(), key=lambda kv: (-kv[1], kv[0]))


_WORD_SPLIT = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


@functools.lru_cache(maxsize=65536)
def name_words(name: str) -> tuple[str, ...]:
    """`HttpsServerImpl` -> ("https", "server", "impl"); `max_items` -> ("max", "items")."""
    return tuple(w.lower() for w in _WORD_SPLIT.findall(name))
