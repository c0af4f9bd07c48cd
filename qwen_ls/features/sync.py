"""Document sync: keep context sources current and make pending completions stale on every edit."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types

from qwen_ls.features.context_glue import uri_path

if TYPE_CHECKING:
    from qwen_ls.server import QwenLanguageServer

log = logging.getLogger(__name__)

_KINDS = {
    types.FileChangeType.Created: "created",
    types.FileChangeType.Changed: "changed",
    types.FileChangeType.Deleted: "deleted",
}


def register(server: QwenLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: QwenLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        path = uri_path(params.text_document.uri)
        if ls.context is not None and path is not None:
            ls.context.on_open(path, params.text_document.text, params.text_document.language_id)
        if ls.completions is not None and ls.completions.pipeline is not None:
            from qwen_ls.features.inline_completion import snapshot

            try:
                snap = snapshot(ls, params.text_document.uri, types.Position(line=0, character=0), False)
            except Exception:
                return
            if not isinstance(snap, str):
                ls.completions.prewarm(snap)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: QwenLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        if ls.completions is not None:
            ls.completions.on_change(uri)
        path = uri_path(uri)
        if ls.context is None or path is None:
            return
        doc = ls.workspace.get_text_document(uri)
        start, end = None, None
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                lo = change.range.start.line
                hi = lo + change.text.count("\n")
            else:
                lo, hi = 0, doc.source.count("\n")
            start = lo if start is None else min(start, lo)
            end = hi if end is None else max(end, hi)
        ls.context.on_change(path, doc.source, start or 0, end or 0)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: QwenLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        path = uri_path(params.text_document.uri)
        if ls.context is not None and path is not None:
            ls.context.on_save(path, ls.workspace.get_text_document(params.text_document.uri).source)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: QwenLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        if ls.completions is not None:
            ls.completions.forget(uri)
        path = uri_path(uri)
        if ls.context is not None and path is not None:
            ls.context.on_close(path)
        for forget in ls.state.get("on_close", []):
            forget(uri)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: QwenLanguageServer, params: types.DidChangeWatchedFilesParams) -> None:
        if ls.context is None:
            return
        changes = []
        for event in params.changes:
            path = uri_path(event.uri)
            if path is not None:
                changes.append((path, _KINDS.get(event.type, "changed")))
        if changes:
            ls.context.on_files_changed(changes)
