"""Value types the context engine hands to the prompt builder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

#: What a snippet is, as the prompt budget, `qwen-ls context` and `qwen.explainContext` count it.
SourceName = Literal["open", "recent", "import", "definition", "similar"]
SOURCES: tuple[SourceName, ...] = get_args(SourceName)


@dataclass(frozen=True)
class Snippet:
    """One piece of another file, as it goes into the prompt: `<|file_sep|>{path}\\n{text}\\n`."""

    path: str  # workspace-relative POSIX path
    start_line: int  # 1-based, inclusive
    end_line: int  # 1-based, inclusive
    text: str
    source: SourceName
    score: float
    tokens: int  # prompt tokens of this snippet, header included (`<|file_sep|>` counts 1)
    reason: str = ""  # why it was picked, for `qwen-ls context` and `qwen.explainContext`


@dataclass(frozen=True)
class ContextResult:
    snippets: tuple[Snippet, ...]  # in prompt order (stable while the user types in one place)
    budget: int
    used: int
    reranked: bool  # False when the previous selection was kept as is
    elapsed_ms: float
    candidates: int = 0
    by_source: dict[str, int] = field(default_factory=dict)  # tokens per source
    index_files: int = 0
    index_ready: bool = False
