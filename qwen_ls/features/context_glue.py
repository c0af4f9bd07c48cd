"""Repository context in the server: the ContextEngine's life cycle, index builds and file watching."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.uris import to_fs_path

if TYPE_CHECKING:
    from qwen_ls.server import QwenLanguageServer

log = logging.getLogger(__name__)

WATCH_REGISTRATION = "qwen-ls/watch-files"


def count_tokens_for(ls: QwenLanguageServer) -> Callable[[str], int]:
    """Exact counts with the loaded model's tokenizer; a conservative estimate until it is loaded."""

    def count(text: str) -> int:
        models = ls.models
        if models is not None and models.engine is not None:
            return len(models.engine.tokenizer.tokenize(text))
        return max(1, len(text) // 3)

    return count


def uri_path(uri: str) -> Path | None:
    if not uri.startswith("file:"):
        return None
    p = to_fs_path(uri)
    return Path(p) if p else None


def ensure_context(ls: QwenLanguageServer) -> None:
    """Create, reconfigure or drop the context engine to match the settings; (re)index in the background."""
    settings = ls.settings.context
    if not settings.enabled or ls.settings.completion.context_tokens <= 0:
        if ls.context is not None:
            ls.context.close()
        ls.context = None
        return
    from qwen_ls.context import ContextEngine

    roots = ls.workspace_roots()
    if ls.context is not None and ls.state.get("context_settings") == settings:
        return
    if ls.context is not None:
        ls.context.close()
    engine = ContextEngine(settings, count_tokens_for(ls))
    engine.set_roots(roots)
    ls.context = engine
    ls.state["context_settings"] = settings
    for doc in list(ls.workspace.text_documents.values()):
        path = uri_path(doc.uri)
        if path is not None:
            engine.on_open(path, doc.source, doc.language_id)
    if roots:
        tasks = ls.state.setdefault("tasks", set())
        for coro in (build_index(ls, engine), register_watcher(ls)):
            task = asyncio.ensure_future(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)


async def build_index(ls: QwenLanguageServer, engine: object) -> None:
    from qwen_ls.server import Progress

    progress = Progress(ls, "qwen-ls: indexing the workspace")
    loop = asyncio.get_running_loop()

    def on_progress(done: int, total: int) -> None:
        pct = int(done * 100 / total) if total else None
        loop.call_soon_threadsafe(progress.report, f"{done}/{total} files", pct)

    def cancelled() -> bool:
        return ls.context is not engine

    try:
        await loop.run_in_executor(None, lambda: engine.build_index(on_progress, cancelled))  # type: ignore[attr-defined]
        progress.end("indexed")
    except Exception as exc:
        progress.end("failed")
        log.exception("workspace index failed")
        ls.tell_once("index-failed", f"qwen-ls: indexing the workspace failed: {exc}")


async def register_watcher(ls: QwenLanguageServer) -> None:
    ws = ls.client_capabilities.workspace
    watched = ws.did_change_watched_files if ws is not None else None
    if watched is None or not watched.dynamic_registration or ls.state.get("watching"):
        return
    ls.state["watching"] = True
    options = types.DidChangeWatchedFilesRegistrationOptions(
        watchers=[types.FileSystemWatcher(glob_pattern="**/*")]
    )
    try:
        await ls.client_register_capability_async(
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
