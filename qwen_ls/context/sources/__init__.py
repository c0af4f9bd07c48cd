"""Context sources: each proposes candidate snippets for the cursor; the engine ranks and packs them.

One module per source, each with its named weights and its own tests (`tests/unit/test_context_sources_*`).
A source is any object with `candidates(query) -> list[Candidate]` (`ContextSource`); it reads the
`Workspace` it was made with and labels what it proposes with a `SourceName`.

To add a source: write `sources/<name>.py` (copy `recent.py`, the simplest), add one line to
`default_sources` below, and a test file. A new kind of snippet (not one of the `SourceName`s) also
needs its name in `types.SourceName`; a new switch, its field in `settings.ContextSettings`.

The order of `default_sources` is the order candidates are gathered in, which breaks ties in score.
"""

from __future__ import annotations

from qwen_ls.context.sources.base import Candidate, ContextSource, Hit, Query, ResolvedImports
from qwen_ls.context.sources.enclosing_class import EnclosingClassSource
from qwen_ls.context.sources.imported import ImportedSource
from qwen_ls.context.sources.near_definitions import NearDefinitionsSource
from qwen_ls.context.sources.package_files import PackageFilesSource
from qwen_ls.context.sources.package_types import PackageTypesSource
from qwen_ls.context.sources.query import build_query
from qwen_ls.context.sources.receiver import ReceiverSource
from qwen_ls.context.sources.recent import RecentEditsSource
from qwen_ls.context.sources.similar import SimilarSource
from qwen_ls.context.sources.workspace import OpenDoc, Workspace


def default_sources(ws: Workspace) -> tuple[ContextSource, ...]:
    """Every source, in the order their candidates are gathered."""
    return (
        ReceiverSource(ws),  # `anims.` -> the module; `pot.` -> the type of `pot`
        EnclosingClassSource(ws),  # `Foo::bar() {` -> `Foo`
        NearDefinitionsSource(ws),  # names used near the cursor -> their definitions
        PackageTypesSource(ws),  # `HttpsServer` near the cursor -> `HttpsServerImpl` of this package
        ImportedSource(ws),  # imported files, as outlines
        SimilarSource(ws),  # BM25-similar chunks ("similar", or "open" for open documents)
        PackageFilesSource(ws),  # the package's other files, as outlines
        RecentEditsSource(ws),  # recently edited / completed-at regions
    )


__all__ = [
    "Candidate",
    "ContextSource",
    "Hit",
    "OpenDoc",
    "Query",
    "ResolvedImports",
    "Workspace",
    "build_query",
    "default_sources",
]
