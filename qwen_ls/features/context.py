"""Repository context in the server: follows the settings and the buffers, builds the index with
progress, and watches the workspace's files (dynamic registration, when the client allows it)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from qwen_ls.features.base import ClientFeatures, Feature
from qwen_ls.snapshot import uri_path

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from qwen_ls.config import Settings
    from qwen_ls.context import ContextEngine
    from qwen_ls.server import QwenLanguageServer

log = logging.getLogger(__name__)

WATCH_REGISTRATION = "qwen-ls/watch-files"

_KINDS = {
    types.FileChangeType.Created: "created",
    types.FileChangeType.Changed: "changed",
    types.FileChangeType.Deleted: "deleted",
}


class RepositoryContext(Feature):
    def __init__(self, server: QwenLanguageServer) -> None:
        super().__init__(server)
        self._watching = False
        self._can_watch = False
        #: index builds and the watcher registration in flight (kept so they are not collected)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def engine(self) -> ContextEngine | None:
        return self.services.context.engine

    def register(self) -> None:
        @self.server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
        def did_change_watched_files(params: types.DidChangeWatchedFilesParams) -> None:
            self.files_changed(params)

    def initialize(self, client: ClientFeatures) -> None:
        self._can_watch = client.watch_files

    def configure(self, settings: Settings) -> None:
        """Create, reconfigure or drop the context engine; (re)index a new one in the background."""
        roots = self.server.workspace_roots()
        open_docs = []
        for doc in list(self.server.workspace.text_documents.values()):
            path = uri_path(doc.uri)
            if path is not None:
                open_docs.append((path, doc.source, doc.language_id))
        engine = self.services.context.configure(
            settings.context, settings.completion.context_tokens > 0, roots, open_docs
        )
        if engine is not None and roots:
            self._spawn(self._build_index(engine))
            self._spawn(self._register_watcher())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _build_index(self, engine: ContextEngine) -> None:
        progress = self.server.begin_progress("qwen-ls: indexing the workspace")
        loop = asyncio.get_running_loop()

        def on_progress(done: int, total: int) -> None:
            pct = int(done * 100 / total) if total else None
            loop.call_soon_threadsafe(progress.report, f"{done}/{total} files", pct)

        def cancelled() -> bool:
            return self.engine is not engine

        try:
            await loop.run_in_executor(None, lambda: engine.build_index(on_progress, cancelled))
            progress.end("indexed")
        except Exception as exc:
            progress.end("failed")
            log.exception("workspace index failed")
            self.server.tell_once("index-failed", f"qwen-ls: indexing the workspace failed: {exc}")

    async def _register_watcher(self) -> None:
        if not self._can_watch or self._watching:
            return
        self._watching = True
        options = types.DidChangeWatchedFilesRegistrationOptions(
            watchers=[types.FileSystemWatcher(glob_pattern="**/*")]
        )
        try:
            await self.server.client_register_capability_async(
                types.RegistrationParams(
                    registrations=[
                        types.Registration(
                            id=WATCH_REGISTRATION,
                            method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                            register_options=options,
                        )
                    ]
                )
            )
        except Exception:
            log.debug("file watcher registration refused", exc_info=True)

    def files_changed(self, params: types.DidChangeWatchedFilesParams) -> None:
        engine = self.engine
        if engine is None:
            return
        changes = []
        for event in params.changes:
            path = uri_path(event.uri)
            if path is not None:
                changes.append((path, _KINDS.get(event.type, "changed")))
        if changes:
            engine.on_files_changed(changes)

    # -- documents ------------------------------------------------------------------------------

    def document_open(self, doc: TextDocument) -> None:
        path = uri_path(doc.uri)
        if self.engine is not None and path is not None:
            self.engine.on_open(path, doc.source, doc.language_id)

    def document_change(self, doc: TextDocument, first_line: int, last_line: int) -> None:
        path = uri_path(doc.uri)
        if self.engine is not None and path is not None:
            self.engine.on_change(path, doc.source, first_line, last_line)

    def document_save(self, doc: TextDocument) -> None:
        path = uri_path(doc.uri)
        if self.engine is not None and path is not None:
            self.engine.on_save(path, doc.source)

    def document_close(self, uri: str) -> None:
        path = uri_path(uri)
        if self.engine is not None and path is not None:
            self.engine.on_close(path)
