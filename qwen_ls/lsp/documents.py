"""Open documents kept exactly as the client has them: pygls's workspace with LSP line rules.

pygls's `TextDocument` splits lines with `str.splitlines` (so form feeds, U+2028 and friends start new
lines), converts positions with a Python loop over every character of a line, and reads a document it
was never sent from disk. `Document` keeps the text in a `positions.LineIndex` and does every conversion
and every incremental edit through it; `Workspace` answers a request for a document that is not open
with InvalidParams and ignores edits to one (logged).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.workspace import TextDocument
from pygls.workspace import Workspace as PyglsWorkspace

from qwen_ls.lsp.positions import ENCODINGS, UTF16, LineIndex, PositionError, split_lines

log = logging.getLogger(__name__)


def encoding_name(encoding: Any) -> str:
    """`utf-8`, `utf-16` or `utf-32` from a PositionEncodingKind or a string (UTF-16 for anything else)."""
    value = str(getattr(encoding, "value", encoding) or UTF16).lower()
    return value if value in ENCODINGS else UTF16


class Document(TextDocument):
    """A text document whose lines and positions follow LSP (see `qwen_ls.lsp.positions`)."""

    def __init__(self, uri: str, source: str | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(uri, source, *args, **kwargs)
        self._source = None  # the text lives in the index only
        self.index = LineIndex(source or "", encoding_name(self.position_codec.encoding))
        self._checked_unicode: str | None = None

    @property
    def source(self) -> str:
        return self.index.text

    @property
    def encoding(self) -> str:
        return self.index.encoding

    @property
    def lines(self) -> Sequence[str]:
        return tuple(split_lines(self.index.text))

    def apply_change(self, change: types.TextDocumentContentChangeEvent) -> None:
        if isinstance(change, types.TextDocumentContentChangePartial):
            r = change.range
            start, end = (r.start.line, r.start.character), (r.end.line, r.end.character)
            self.index = self.index.replace(start, end, change.text)
        else:
            self.index = LineIndex(change.text, self.index.encoding)

    def offset_at_position(self, client_position: types.Position) -> int:
        """The offset of a request's position; a line past the end is InvalidParams."""
        try:
            return self.index.offset_at(client_position.line, client_position.character, strict=True)
        except PositionError as exc:
            raise JsonRpcInvalidParams(f"position: {exc} in {self.uri}") from None

    def client_position_at_offset(self, offset: int) -> types.Position:
        line, character = self.index.position_at(offset)
        return types.Position(line=line, character=character)

    def check_unicode(self) -> None:
        """InvalidParams when the text holds a lone surrogate (no Unicode text can; checked once per text)."""
        text = self.index.text
        if self._checked_unicode is text:
            return
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            line, character = self.index.position_at(exc.start)
            raise JsonRpcInvalidParams(
                f"textDocument.text of {self.uri} holds a lone surrogate at {line}:{character}"
            ) from None
        self._checked_unicode = text


class Workspace(PyglsWorkspace):
    """pygls's workspace with `Document`s; never reads a document from disk."""

    def _create_text_document(
        self,
        doc_uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
    ) -> TextDocument:
        return Document(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self._position_codec,
        )

    def get_text_document(self, doc_uri: str) -> TextDocument:
        doc = self._text_documents.get(unquote(doc_uri)) if isinstance(doc_uri, str) else None
        if doc is None:
            raise JsonRpcInvalidParams(
                f"textDocument.uri: {doc_uri!r} is not open (send textDocument/didOpen first)"
            )
        return doc

    def update_text_document(
        self, text_doc: types.VersionedTextDocumentIdentifier, change: types.TextDocumentContentChangeEvent
    ) -> None:
        doc = self._text_documents.get(unquote(text_doc.uri))
        if doc is None:
            log.warning("didChange for %s, which is not open: ignored", text_doc.uri)
            return
        doc.apply_change(change)
        doc.version = text_doc.version


def document(ls: Any, uri: str) -> Document:
    """The open document at `uri` (InvalidParams when it is not open)."""
    doc = ls.workspace.get_text_document(uri)
    if not isinstance(doc, Document):  # a workspace made by plain pygls (tests that bypass initialize)
        raise JsonRpcInvalidParams(f"textDocument.uri: {uri!r} is not open")
    return doc
