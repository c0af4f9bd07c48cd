"""Settings of the repository-context engine: which sources feed the prompt, what the index may read.

JSON spelling is camelCase (`qwen.context.similar`, `qwen.context.exclude`, ...); see `settings_util`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ContextSettings:
    """Per-source switches, exclusions and the caps that keep the index bounded."""

    #: Master switch: with False, `retrieve` returns no snippets and no index is built.
    enabled: bool = True
    #: Other open documents (their in-memory text, unsaved edits included).
    open_documents: bool = True
    #: Recently edited and recently completed-at regions of other files.
    recent_edits: bool = True
    #: Files the current file imports, resolved to workspace files (shown as outlines).
    imports: bool = True
    #: Definitions (in other files) of the identifiers used near the cursor.
    definitions: bool = True
    #: Chunks of the workspace index most similar to the code around the cursor (BM25 over identifiers).
    similar: bool = True
    #: Extra gitignore-style patterns (relative to each workspace root) never indexed nor sent.
    exclude: tuple[str, ...] = ()
    #: Extra gitignore-style patterns for secrets; added to the built-in list (`.env*`, keys, credentials).
    secret_patterns: tuple[str, ...] = ()
    #: Honour `.gitignore` files (and `.git/info/exclude`).
    use_gitignore: bool = True
    #: Most files the workspace index holds (all roots together).
    max_files: int = 5000
    #: Files larger than this are not indexed.
    max_file_bytes: int = 512 * 1024
    #: Source bytes the index reads in all (its memory is about 3x this); files past it are left out.
    max_total_bytes: int = 48 * 1024 * 1024
    #: Most lines one snippet may have.
    max_snippet_lines: int = 60
    #: Lines per similarity chunk (chunks overlap by half).
    chunk_lines: int = 16
    #: Recently edited / completed-at positions remembered.
    max_recent: int = 16
    #: Snippets smaller than this many tokens are not worth their header.
    min_snippet_tokens: int = 24
    #: Most snippets in one prompt.
    max_snippets: int = 12

    def validate(self) -> list[str]:
        problems: list[str] = []
        if self.max_files < 1:
            problems.append("maxFiles must be at least 1")
        if self.max_file_bytes < 1024:
            problems.append("maxFileBytes must be at least 1024")
        if self.chunk_lines < 4:
            problems.append("chunkLines must be at least 4")
        if self.max_snippet_lines < 4:
            problems.append("maxSnippetLines must be at least 4")
        if self.max_snippets < 1:
            problems.append("maxSnippets must be at least 1")
        return problems
