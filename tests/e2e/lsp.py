"""Starting `qwen-ls serve` as a subprocess and driving it over stdio with pytest-lsp's client."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

SERVER = [sys.executable, "-m", "qwen_ls", "serve"]


def capabilities(
    inline: bool = True, resolve: bool = True, client: str = "visual-studio-code"
) -> types.ClientCapabilities:
    """Real client capabilities (from pytest-lsp's captured clients) plus inline completion, which none of
    them declares yet."""
    caps = client_capabilities(client)
    td = caps.text_document or types.TextDocumentClientCapabilities()
    if inline:
        td.inline_completion = types.InlineCompletionClientCapabilities(dynamic_registration=False)
    else:
        td.inline_completion = None
    if not resolve and td.code_action is not None:
        td.code_action.resolve_support = None
    caps.text_document = td
    return caps


class Recorder:
    """Notifications the server sends that tests look at."""

    def __init__(self, client: LanguageClient) -> None:
        self.status: list[dict[str, Any]] = []
        self.partial: list[dict[str, Any]] = []
        self.status_event = asyncio.Event()

        @client.feature("qwen/status")
        def on_status(params: Any) -> None:
            self.status.append(_plain(params))
            self.status_event.set()

        @client.feature("qwen/partialCompletion")
        def on_partial(params: Any) -> None:
            self.partial.append(_plain(params))

    async def wait_state(self, *states: str, timeout: float = 60) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            while True:
                for s in self.status:
                    if s.get("state") in states:
                        return s
                self.status_event.clear()
                await self.status_event.wait()

        return await asyncio.wait_for(wait(), timeout)


def _plain(params: Any) -> dict[str, Any]:
    if isinstance(params, dict):
        return params
    return {k: getattr(params, k) for k in dir(params) if not k.startswith("_")}


@asynccontextmanager
async def session(
    root: Path,
    *,
    init_options: dict[str, Any] | None = None,
    args: list[str] | None = None,
    inline: bool = True,
    resolve: bool = True,
    configuration: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[LanguageClient, Recorder]]:
    client = make_test_lsp_client()
    if configuration is not None:
        client.set_configuration(configuration, section="qwen")
    recorder = Recorder(client)
    await client.start_io(*SERVER, *(args or []))
    try:
        client.init_result = await client.initialize_session(  # type: ignore[attr-defined]
            types.InitializeParams(
                capabilities=capabilities(inline=inline, resolve=resolve),
                root_uri=root.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
                initialization_options=init_options or {},
            )
        )
        yield client, recorder
    finally:
        try:
            await asyncio.wait_for(client.shutdown_session(), 20)
        finally:
            await client.stop()


def open_doc(
    client: LanguageClient, path: Path, text: str, language: str = "python", version: int = 1
) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language, version=version, text=text)
        )
    )
    return uri


def insert(client: LanguageClient, uri: str, version: int, line: int, character: int, text: str) -> None:
    pos = types.Position(line=line, character=character)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(range=types.Range(start=pos, end=pos), text=text)
            ],
        )
    )


def inline_params(uri: str, line: int, character: int, invoked: bool = True) -> types.InlineCompletionParams:
    kind = (
        types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
    )
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(trigger_kind=kind),
    )


def cancel_pending(client: LanguageClient) -> list[Any]:
    """Send $/cancelRequest for every request the client is waiting on, as editors do on a keystroke."""
    ids = list(client.protocol._request_futures)
    for msg_id in ids:
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
    return ids
