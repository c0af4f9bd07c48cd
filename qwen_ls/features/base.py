"""What every feature is: the `Feature` base class with its lifecycle hooks, and the client's
capabilities read once (`ClientFeatures`).

A feature is one class: it registers its LSP handlers in `register` and follows the server's life
through the hooks, which the two routers (`lifecycle` for initialize/configuration/shutdown, `sync`
for document events) call on every feature in the order the composition root (`qwen_ls.app`) added
them. Features reach the services through `self.services` and never import one another or the server.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from lsprotocol import types

from qwen_ls import protocol

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from qwen_ls.app import Services
    from qwen_ls.config import Settings
    from qwen_ls.server import QwenLanguageServer

A = TypeVar("A")


@dataclass(frozen=True)
class ClientFeatures:
    """What the client said it can do at initialize, in the few terms the features ask about."""

    name: str = ""
    #: textDocument/inlineCompletion (else the completion menu is the fallback)
    inline_completion: bool = False
    #: codeAction/resolve may fill in `edit` (else the action carries the `qwen.applyFix` command)
    resolve_edit: bool = False
    #: versioned `documentChanges` in a WorkspaceEdit
    document_changes: bool = False
    #: window/workDoneProgress
    work_done_progress: bool = False
    #: workspace/configuration
    configuration: bool = False
    #: dynamic registration of workspace/didChangeWatchedFiles
    watch_files: bool = False

    @classmethod
    def read(cls, params: types.InitializeParams) -> ClientFeatures:
        caps = params.capabilities
        td, ws, window = caps.text_document, caps.workspace, caps.window
        action = td.code_action if td is not None else None
        resolve = action.resolve_support if action is not None else None
        edit = ws.workspace_edit if ws is not None else None
        watched = ws.did_change_watched_files if ws is not None else None
        return cls(
            name=params.client_info.name if params.client_info else "",
            inline_completion=td is not None and td.inline_completion is not None,
            resolve_edit=resolve is not None and "edit" in (resolve.properties or []),
            document_changes=bool(edit is not None and edit.document_changes),
            work_done_progress=bool(window is not None and window.work_done_progress),
            configuration=bool(ws is not None and ws.configuration),
            watch_files=bool(watched is not None and watched.dynamic_registration),
        )


class Feature:
    """One piece of LSP behaviour. Override the hooks it needs; each default does nothing."""

    def __init__(self, server: QwenLanguageServer) -> None:
        self.server = server

    @property
    def services(self) -> Services:
        return self.server.services

    @property
    def settings(self) -> Settings:
        return self.server.settings

    def register(self) -> None:
        """Register the LSP handlers that every client gets (called once, before initialize)."""

    def initialize(self, client: ClientFeatures) -> None:
        """The client's capabilities are known; handlers registered here are announced to it."""

    def configure(self, settings: Settings) -> None:
        """The settings changed (also once after initialize), before the model is (re)loaded."""

    def document_open(self, doc: TextDocument) -> None: ...

    def document_change(self, doc: TextDocument, first_line: int, last_line: int) -> None:
        """`doc` changed between these 0-based lines (of its new text)."""

    def document_save(self, doc: TextDocument) -> None: ...

    def document_close(self, uri: str) -> None:
        """Forget everything kept for `uri`."""

    def shutdown(self) -> None: ...

    def command(self, name: str, arguments: type[A], handler: Callable[[A], object]) -> None:
        """Register `workspace/executeCommand` `name`: the JSON arguments are structured into the
        `arguments` class (`qwen_ls.protocol`) before `handler` sees them; a malformed call is
        answered with InvalidParams naming the field."""

        # `ls` by name: pygls passes the server there and the JSON arguments after it, unconverted
        async def execute(ls: object, *raw: object) -> object:
            result = handler(protocol.structure_arguments(arguments, name, raw))
            if inspect.isawaitable(result):
                return await result
            return result

        self.server.command(name)(execute)
