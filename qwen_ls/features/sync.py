"""Document sync: the router for document events. pygls keeps the text; every feature's document
hooks run after it (completions go stale on every edit, the context follows the buffers)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types

from qwen_ls.completion import document_too_large
from qwen_ls.features.base import Feature

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

log = logging.getLogger(__name__)


def changed_lines(params: types.DidChangeTextDocumentParams, line_count: int) -> tuple[int, int]:
    """The 0-based lines of the new text that the content changes touched (all of them for a full
    replacement)."""
    start: int | None = None
    end: int | None = None
    for change in params.content_changes:
        if isinstance(change, types.TextDocumentContentChangePartial):
            lo = change.range.start.line
            hi = lo + change.text.count("\n")
        else:
            lo, hi = 0, line_count
        start = lo if start is None else min(start, lo)
        end = hi if end is None else max(end, hi)
    return start or 0, end or 0


class DocumentSync(Feature):
    def _document(self, uri: str) -> TextDocument | None:
        try:
            return self.server.workspace.get_text_document(uri)
        except Exception:  # an event for a document the client never opened: nothing to follow
            log.debug("document event for %s, which is not open", uri)
            return None

    def _too_large(self, doc: TextDocument) -> bool:
        """A document over `maxDocumentBytes` is never completed in, so no feature follows its edits:
        a keystroke in a 20 MB file must cost close to nothing (issue 15)."""
        return document_too_large(doc.source, self.server.settings.completion.max_document_bytes)

    def register(self) -> None:
        server = self.server

        @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
        def did_open(params: types.DidOpenTextDocumentParams) -> None:
            doc = self._document(params.text_document.uri)
            if doc is None or self._too_large(doc):
                return
            for feature in self.server.features:
                feature.document_open(doc)

        @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
        def did_change(params: types.DidChangeTextDocumentParams) -> None:
            doc = self._document(params.text_document.uri)
            if doc is None or self._too_large(doc):
                return
            first, last = changed_lines(params, doc.source.count("\n"))
            for feature in self.server.features:
                feature.document_change(doc, first, last)

        @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
        def did_save(params: types.DidSaveTextDocumentParams) -> None:
            doc = self._document(params.text_document.uri)
            if doc is None:
                return
            for feature in self.server.features:
                feature.document_save(doc)

        @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
        def did_close(params: types.DidCloseTextDocumentParams) -> None:
            for feature in self.server.features:
                feature.document_close(params.text_document.uri)
