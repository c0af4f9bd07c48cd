"""textDocument/inlineCompletion, and textDocument/completion for clients without inline completion.

The completion-menu fallback is registered at initialize, and only for a client that did not declare
inline completion (pygls announces capabilities after the initialize handler, so it is offered to
exactly those clients). With `streaming`, the growing text goes out as `qwen/partialCompletion`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from qwen_ls import protocol
from qwen_ls.completion import Outcome, OutcomeKind, Snapshot
from qwen_ls.features.base import ClientFeatures, Feature
from qwen_ls.snapshot import Skip, document, take_snapshot
from qwen_ls.stats import RequestMetrics

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from qwen_ls.server import QwenLanguageServer

log = logging.getLogger(__name__)

#: How long the completion-menu fallback waits for a fresh completion before answering "incomplete";
#: the generation goes on and its result answers the next request (the client asks again as the user types).
MENU_WAIT_S = 0.25

MenuKey = tuple[str, int | None, int]


def _reusable(task: asyncio.Future[Outcome]) -> bool:
    """A menu generation another ask may join or take the answer of: running, or finished with an answer
    of its own (not cancelled, superseded or failed)."""
    if not task.done():
        return True
    if task.cancelled() or task.exception() is not None:
        return False
    return task.result().kind not in (OutcomeKind.CANCELLED, OutcomeKind.SUPERSEDED)


class Completions(Feature):
    def __init__(self, server: QwenLanguageServer) -> None:
        super().__init__(server)
        #: the completion-menu generation running for (uri, version, offset)
        self._menu: tuple[MenuKey, asyncio.Future[Outcome]] | None = None

    def register(self) -> None:
        @self.server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
        async def inline_completion(params: types.InlineCompletionParams) -> types.InlineCompletionList:
            return await self.inline_completion(params)

    def initialize(self, client: ClientFeatures) -> None:
        if client.inline_completion:
            return

        @self.server.feature(
            types.TEXT_DOCUMENT_COMPLETION,
            types.CompletionOptions(trigger_characters=[".", "(", " ", "\n"], resolve_provider=False),
        )
        async def completion(params: types.CompletionParams) -> types.CompletionList:
            return await self.completion(params)

    # -- documents ------------------------------------------------------------------------------

    def document_open(self, doc: TextDocument) -> None:
        if self.services.completions.pipeline is None:
            return
        try:
            snap = self.snapshot(doc.uri, types.Position(line=0, character=0), False)
        except Exception:
            return
        if isinstance(snap, Snapshot):
            self.services.completions.prewarm(snap)

    def document_change(self, doc: TextDocument, first_line: int, last_line: int) -> None:
        self.services.completions.on_change(doc.uri)

    def document_close(self, uri: str) -> None:
        self.services.completions.forget(uri)
        if self._menu is not None and self._menu[0][0] == uri:
            self._menu = None

    # -- requests -------------------------------------------------------------------------------

    def snapshot(self, uri: str, position: types.Position, invoked: bool) -> Snapshot | Skip:
        """The document at the cursor (InvalidParams for an unknown document or position)."""
        server = self.server

        def too_large(uri: str) -> None:
            message = f"qwen-ls: {Path(uri).name} is too large for completions"
            server.tell_once(f"huge:{uri}", message, types.MessageType.Info)

        return take_snapshot(
            document(server.workspace, uri),
            position,
            invoked,
            max_bytes=self.settings.completion.max_document_bytes,
            context=self.services.context.engine,
            roots=server.workspace_roots,
            on_too_large=too_large,
        )

    def _disabled_reason(self) -> str | None:
        if not self.settings.enable:
            return "disabled"
        models = self.services.models
        return None if models.ready else models.state

    async def complete(
        self, uri: str, position: types.Position, invoked: bool, menu: bool = False
    ) -> tuple[Snapshot | None, Outcome]:
        snap = self.snapshot(uri, position, invoked)
        if isinstance(snap, Skip):
            out = Outcome.empty(snap.reason)
            # counted like any answered request: `qwen.stats` shows why this one was empty
            self.services.stats.record(RequestMetrics(uri=uri, invoked=invoked, outcome=out.label))
            return None, out
        reason = self._disabled_reason()
        if reason is not None:
            return snap, Outcome.empty(reason)
        context = self.services.context.engine
        if context is not None and snap.path is not None:
            context.note_completion(snap.path, position.line)
        if menu:
            return snap, await self._menu_completion(snap)
        streaming = self.settings.streaming
        on_partial = self._partial_sender(snap, position) if streaming else None
        out = await self.services.completions.complete(snap, on_partial)
        if streaming:
            self._send_partial(snap, position, out.text, done=True)
        return snap, out

    async def _menu_completion(self, snap: Snapshot) -> Outcome:
        # Menu clients ask again as the user types or re-opens the menu: a request for the same place
        # joins the generation already running for it, or takes its answer if it finished between two
        # asks, instead of starting over.
        key: MenuKey = (snap.uri, snap.version, snap.offset)
        running = self._menu
        task = running[1] if running is not None and running[0] == key else None
        if task is None or not _reusable(task):
            task = asyncio.ensure_future(self.services.completions.complete(snap, None))
            self._menu = (key, task)
        done, _ = await asyncio.wait({task}, timeout=MENU_WAIT_S)
        if not done:
            return Outcome.empty("pending")
        return task.result()

    def _send_partial(self, snap: Snapshot, position: types.Position, text: str, done: bool) -> None:
        params = protocol.PartialCompletionParams(
            uri=snap.uri, version=snap.version, position=position, text=text, done=done
        )
        self.server.protocol.notify(protocol.PARTIAL_COMPLETION, params)

    def _partial_sender(self, snap: Snapshot, position: types.Position) -> Callable[[str], None]:
        """The growing text, sent from the engine's thread through the event loop."""
        loop = asyncio.get_running_loop()

        def on_partial(text: str) -> None:
            loop.call_soon_threadsafe(self._send_partial, snap, position, text, False)

        return on_partial

    def _range(self, snap: Snapshot, out: Outcome, position: types.Position) -> types.Range:
        doc = self.server.workspace.get_text_document(snap.uri)
        # the requested position as the document reads it (a character past the line's end is its end)
        start = doc.client_position_at_offset(snap.offset)
        end = doc.client_position_at_offset(snap.offset + out.replace_end) if out.replace_end else start
        return types.Range(start=start, end=end)

    async def inline_completion(self, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        snap, out = await self.complete(params.text_document.uri, params.position, invoked)
        if snap is None or not out.text:
            return types.InlineCompletionList(items=[])
        item = types.InlineCompletionItem(insert_text=out.text, range=self._range(snap, out, params.position))
        return types.InlineCompletionList(items=[item])

    async def completion(self, params: types.CompletionParams) -> types.CompletionList:
        invoked = (
            params.context is not None and params.context.trigger_kind == types.CompletionTriggerKind.Invoked
        )
        snap, out = await self.complete(params.text_document.uri, params.position, invoked, menu=True)
        if snap is None or not out.text:
            return types.CompletionList(is_incomplete=True, items=[])
        first = out.text.strip().splitlines()[0] if out.text.strip() else out.text
        item = types.CompletionItem(
            label=first[:60] + ("…" if len(first) > 60 or "\n" in out.text.strip() else ""),
            kind=types.CompletionItemKind.Text,
            detail="qwen-ls",
            documentation=types.MarkupContent(kind=types.MarkupKind.PlainText, value=out.text),
            text_edit=types.TextEdit(range=self._range(snap, out, params.position), new_text=out.text),
            sort_text="~qwen",
            insert_text_format=types.InsertTextFormat.PlainText,
        )
        return types.CompletionList(is_incomplete=True, items=[item])
