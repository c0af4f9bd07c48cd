"""A small workspace for the context-source tests: files on disk, indexed, and a query at a cursor
marked inline with `‸`."""

from __future__ import annotations

from pathlib import Path

from qwen_ls.context.ignore import PathFilter
from qwen_ls.context.index import WorkspaceIndex
from qwen_ls.context.settings import ContextSettings
from qwen_ls.context.sources import OpenDoc, Query, Workspace, build_query

CURSOR = "‸"


def make_workspace(root: Path, files: dict[str, str], **settings: object) -> Workspace:
    """`files` (relative path -> text) written under `root` and indexed."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace(CURSOR, ""), encoding="utf-8")
    s = ContextSettings(**settings)  # type: ignore[arg-type]
    index = WorkspaceIndex(
        PathFilter([root]), s.max_files, s.max_file_bytes, s.chunk_lines, s.max_total_bytes
    )
    for r, path in index.walk():
        index.index_file(r, path)
    return Workspace(s, index)


def open_doc(ws: Workspace, root: Path, rel: str, text: str, language: str | None = None) -> None:
    """`rel` open in the editor with `text` (unsaved)."""
    ws.open[(root / rel).as_posix()] = OpenDoc(text, language, excluded=False)


def query_at(ws: Workspace, root: Path, rel: str, marked: str) -> Query:
    """The query for the cursor at `‸` in `marked`, the text of `rel` (which need not be indexed)."""
    offset = marked.index(CURSOR)
    text = marked.replace(CURSOR, "")
    line = text.count("\n", 0, offset)
    return build_query(ws, (root / rel).as_posix(), text, text.split("\n"), line, offset)


def rel(root: Path, path: str) -> str:
    return Path(path).relative_to(root).as_posix()
