"""Settings that post-processing reads (the `completion.mode`, `maxLines`, `syntaxAware` keys).

`CompletionSettings` (in `completion`) inherits these fields, so the editor's flat `completion.*` keys
stay as they are, and `CompletionContext.settings` hands this very object to the filters: a new setting
that post-processing reads is a field here plus the code that reads it (`ctx.settings.<name>`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class PostprocessSettings:
    """User knobs of post-processing."""

    #: "auto": one line mid-expression, a block after a signature or in an empty body; "single" / "multi"
    #: force one. A cursor with code to its right always gets at most the rest of its line.
    mode: Literal["auto", "single", "multi"] = "auto"
    #: Most lines of a block completion (0: until the block ends).
    max_lines: int = 0
    #: Cut completions where the file stops parsing (tree-sitter: Python, JS/TS, Go, Rust, Java, C#, C, C++).
    syntax_aware: bool = True

    def validate(self) -> list[str]:
        problems = []
        if self.max_lines < 0:
            problems.append("maxLines must be 0 (no limit) or more")
        return problems
