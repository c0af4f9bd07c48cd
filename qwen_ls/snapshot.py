"""The document at the cursor as a `Snapshot`: file paths of URIs, position checks, reasons to skip.

Shared by the completion handlers and `qwen.explainContext`, so both see the same document the same
way. Positions arrive in the client's encoding (UTF-16 by default) and are converted by the document
(`qwen_ls.lsp.documents`, rules in `qwen_ls.lsp.positions`); a position outside the document is
InvalidParams, not a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import to_fs_path

from qwen_ls.completion import Snapshot, document_too_large
from qwen_ls.lsp.documents import Document
from qwen_ls.syntax import normalize_language

if TYPE_CHECKING:
    from pygls.workspace import TextDocument, Workspace

    from qwen_ls.context import ContextEngine


def uri_path(uri: str) -> Path | None:
    """The file path of a `file:` URI; None for untitled buffers and other schemes."""
    if not uri.startswith("file:"):
        return None
    p = to_fs_path(uri)
    return Path(p) if p else None


def relative_to_roots(path: Path, roots: Sequence[Path]) -> tuple[str, str]:
    """(the path relative to the first root that holds it, that root's name)."""
    for root in roots:
        try:
            return path.relative_to(root).as_posix(), root.name
        except ValueError:
            continue
    return path.name, path.parent.name or "workspace"


def document(workspace: Workspace, uri: str) -> TextDocument:
    """An open document; InvalidParams for one the client never opened."""
    try:
        return workspace.get_text_document(uri)
    except JsonRpcInvalidParams:
        raise
    except Exception:
        raise JsonRpcInvalidParams(f"textDocument.uri: {uri!r} is not open (send didOpen first)") from None


def check_position(doc: TextDocument, position: types.Position) -> int:
    """The offset of a request's position by the rules of `qwen_ls.lsp.positions` (the negotiated
    encoding, LSP's three line terminators): a line past the end of the document is InvalidParams, a
    character past the end of its line means the end of that line."""
    offset = doc.offset_at_position(position)
    if isinstance(doc, Document):
        doc.check_unicode()  # a lone surrogate: InvalidParams, not a crash in the tokenizer
    return offset


@dataclass(frozen=True)
class Skip:
    """Why there is nothing to complete in a document (`too-large`, `binary`, `secret-file`)."""

    reason: str


def take_snapshot(
    doc: TextDocument,
    position: types.Position,
    invoked: bool,
    *,
    max_bytes: int,
    context: ContextEngine | None,
    roots: Callable[[], list[Path]],
    on_too_large: Callable[[str], None],
) -> Snapshot | Skip:
    """The document at the cursor, or why there is nothing to complete."""
    uri, text = doc.uri, doc.source
    if document_too_large(text, max_bytes):  # first: a file we will not complete in costs nothing more
        on_too_large(uri)
        return Skip("too-large")
    offset = check_position(doc, position)
    if "\x00" in text:
        return Skip("binary")
    path = uri_path(uri)
    rel, repo = (path.name if path else "untitled"), "workspace"
    if path is not None:
        if context is not None:
            if context.is_secret(path):
                return Skip("secret-file")
            rel, repo = context.relative_path(path), context.repo_name(path)
        else:
            rel, repo = relative_to_roots(path, roots())
    return Snapshot(
        uri=uri,
        text=text,
        offset=offset,
        version=doc.version,
        language=normalize_language(doc.language_id, path),
        path=path,
        rel_path=rel,
        repo_name=repo,
        invoked=invoked,
    )
