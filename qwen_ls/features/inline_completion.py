"""textDocument/inlineCompletion, and textDocument/completion for clients without inline completion."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from qwen_ls.completion import Outcome, Snapshot
from qwen_ls.features.context_glue import uri_path
from qwen_ls.syntax import normalize_language

if TYPE_CHECKING:
    from qwen_ls.server import QwenLanguageServer

log = logging.getLogger(__name__)

#: How long the completion-menu fallback waits for a fresh completion before answering "incomplete";
#: the generation goes on and its result answers the next request (the client asks again as the user types).
MENU_WAIT_S = 0.25


def snapshot(ls: QwenLanguageServer, uri: str, position: types.Position, invoked: bool) -> Snapshot | str:
    """The document at the cursor, or a reason why there is nothing to complete."""
    try:
        doc = ls.workspace.get_text_document(uri)
    except Exception:
        raise JsonRpcInvalidParams(f"unknown document {uri}: send textDocument/didOpen first") from None
    text = doc.source
    lines = doc.lines
    if position.line < 0 or position.character < 0 or position.line > len(lines):
        raise JsonRpcInvalidParams(
            f"position {position.line}:{position.character} is outside {uri} ({len(lines)} lines)"
        )
    if position.line < len(lines):
        line = lines[position.line].rstrip("\r\n")
        if position.character > doc.position_codec.client_num_units(line):
            raise JsonRpcInvalidParams(
                f"position {position.line}:{position.character} is past the end of line "
                f"{position.line} of {uri}"
            )
    if len(text) > ls.settings.completion.max_document_bytes:
        ls.tell_once(
            f"huge:{uri}", f"qwen-ls: {Path(uri).name} is too large for completions", types.MessageType.Info
        )
        return "empty:too-large"
    if "\x00" in text:
        return "empty:binary"
    offset = doc.offset_at_position(position)
    path = uri_path(uri)
    rel, repo = (path.name if path else "untitled"), "workspace"
    if path is not None:
        if ls.context is not None:
            if ls.context.is_secret(path):
                return "empty:secret-file"
            rel, repo = ls.context.relative_path(path), ls.context.repo_name(path)
        else:
            rel, repo = relative_to_roots(path, ls.workspace_roots())
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


def relative_to_roots(path: Path, roots: list[Path]) -> tuple[str, str]:
    for root in roots:
        try:
            return path.relative_to(root).as_posix(), root.name
        except ValueError:
            continue
    return path.name, path.parent.name or "workspace"


def _disabled_reason(ls: QwenLanguageServer) -> str | None:
    if not ls.settings.enable:
        return "empty:disabled"
    if ls.models is None or not ls.models.ready:
        return f"empty:{ls.models.state if ls.models else 'starting'}"
    return None


async def complete(
    ls: QwenLanguageServer, uri: str, position: types.Position, invoked: bool, menu: bool = False
) -> tuple[Snapshot | None, Outcome]:
    snap = snapshot(ls, uri, position, invoked)
    if isinstance(snap, str):
        return None, Outcome(outcome=snap)
    reason = _disabled_reason(ls)
    if reason is not None:
        return snap, Outcome(outcome=reason)
    if ls.context is not None and snap.path is not None:
        ls.context.note_completion(snap.path, position.line)
    on_partial = None
    if ls.streaming and not menu:
        loop = asyncio.get_running_loop()
        version = snap.version

        def on_partial(text: str) -> None:
            params = {
                "uri": uri,
                "version": version,
                "position": {"line": position.line, "character": position.character},
                "text": text,
                "done": False,
            }
            loop.call_soon_threadsafe(ls.protocol.notify, "qwen/partialCompletion", params)

    if menu:
        # Menu clients ask again as the user types or re-opens the menu: a request for the same place
        # joins the generation already running for it instead of starting over.
        key = (uri, snap.version, snap.offset)
        running = ls.state.get("menu_task")
        if running is not None and running[0] == key and not running[1].done():
            task = running[1]
        else:
            task = asyncio.ensure_future(ls.completions.complete(snap, on_partial))
            ls.state["menu_task"] = (key, task)
        done, _ = await asyncio.wait({task}, timeout=MENU_WAIT_S)
        if not done:
            return snap, Outcome(outcome="empty:pending")
        return snap, task.result()
    task = asyncio.ensure_future(ls.completions.complete(snap, on_partial))
    out = await task
    if ls.streaming and not menu:
        ls.protocol.notify(
            "qwen/partialCompletion",
            {
                "uri": uri,
                "version": snap.version,
                "position": {"line": position.line, "character": position.character},
                "text": out.text,
                "done": True,
            },
        )
    return snap, out


def _range(
    ls: QwenLanguageServer, uri: str, snap: Snapshot, out: Outcome, position: types.Position
) -> types.Range:
    doc = ls.workspace.get_text_document(uri)
    end = doc.client_position_at_offset(snap.offset + out.replace_end) if out.replace_end else position
    return types.Range(start=position, end=end)


def register(server: QwenLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: QwenLanguageServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList:
        invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        uri = params.text_document.uri
        snap, out = await complete(ls, uri, params.position, invoked)
        if snap is None or not out.text:
            return types.InlineCompletionList(items=[])
        item = types.InlineCompletionItem(
            insert_text=out.text, range=_range(ls, uri, snap, out, params.position)
        )
        return types.InlineCompletionList(items=[item])

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[".", "(", " ", "\n"], resolve_provider=False),
    )
    async def completion(ls: QwenLanguageServer, params: types.CompletionParams) -> types.CompletionList:
        invoked = (
            params.context is not None and params.context.trigger_kind == types.CompletionTriggerKind.Invoked
        )
        uri = params.text_document.uri
        snap, out = await complete(ls, uri, params.position, invoked, menu=True)
        if snap is None or not out.text:
            return types.CompletionList(is_incomplete=True, items=[])
        first = out.text.strip().splitlines()[0] if out.text.strip() else out.text
        item = types.CompletionItem(
            label=first[:60] + ("…" if len(first) > 60 or "\n" in out.text.strip() else ""),
            kind=types.CompletionItemKind.Text,
            detail="qwen-ls",
            documentation=types.MarkupContent(kind=types.MarkupKind.PlainText, value=out.text),
            text_edit=types.TextEdit(range=_range(ls, uri, snap, out, params.position), new_text=out.text),
            sort_text="~qwen",
            insert_text_format=types.InsertTextFormat.PlainText,
        )
        return types.CompletionList(is_incomplete=True, items=[item])
