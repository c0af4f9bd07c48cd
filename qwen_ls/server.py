"""The language server: owns the services and wires the feature modules; no feature logic here."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from qwen_ls import __version__
from qwen_ls.config import Settings, load_settings
from qwen_ls.model_service import ModelService
from qwen_ls.scheduler import EngineLane
from qwen_ls.stats import Stats

log = logging.getLogger(__name__)

STATUS_NOTIFICATION = "qwen/status"
PARTIAL_NOTIFICATION = "qwen/partialCompletion"


class Progress:
    """A work-done progress bar in the editor (a no-op for clients without the capability)."""

    def __init__(self, server: QwenLanguageServer, title: str) -> None:
        self.server = server
        self.token: str | None = None
        caps = server.client_capabilities.window
        if caps is None or not caps.work_done_progress:
            return
        self.token = f"qwen-ls/{uuid.uuid4()}"
        try:
            server.work_done_progress.create(self.token)
            server.work_done_progress.begin(
                self.token, types.WorkDoneProgressBegin(title=title, cancellable=False)
            )
        except Exception:  # a client that refuses progress still gets the work done
            log.debug("work done progress refused", exc_info=True)
            self.token = None

    def report(self, message: str, percentage: int | None = None) -> None:
        if self.token is not None:
            self.server.work_done_progress.report(
                self.token, types.WorkDoneProgressReport(message=message, percentage=percentage)
            )

    def end(self, message: str = "") -> None:
        if self.token is not None:
            self.server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
            self.token = None


class QwenLanguageServer(LanguageServer):
    def __init__(self, cli_settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(
            "qwen-ls", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental
        )
        #: settings given on the command line (lowest layer above defaults; the editor can override)
        self.cli_settings: dict[str, Any] = dict(cli_settings or {})
        self.init_options: dict[str, Any] = {}
        self.client_settings: dict[str, Any] = {}
        self.settings = Settings()
        self.lane: EngineLane | None = None
        self.models: ModelService | None = None
        self.stats = Stats()
        self.streaming = False
        self.state: dict[str, Any] = {}
        self._told: set[str] = set()
        self._tell_lock = threading.Lock()
        self.completions: Any = None  # features.inline_completion.CompletionService, set at initialize
        self.context: Any = None  # context.ContextEngine when repository context is on
        self.repair: Any = None

    # -- services -------------------------------------------------------------------------------

    def start_services(self) -> None:
        if self.lane is None:
            self.lane = EngineLane()
            self.models = ModelService(self.lane, self.send_status, lambda title: Progress(self, title))

    def apply_settings(self, *layers: Mapping[str, Any] | None) -> list[str]:
        settings, warnings = load_settings(self.cli_settings, *layers)
        self.settings = settings
        self.streaming = settings.streaming
        for w in warnings:
            self.tell_once(f"settings:{w}", f"qwen-ls: {w}", types.MessageType.Warning)
        return warnings

    def workspace_roots(self) -> list[Path]:
        roots: list[Path] = []
        ws = self.workspace
        for folder in ws.folders.values():
            p = to_fs_path(folder.uri)
            if p:
                roots.append(Path(p))
        if not roots and ws.root_path:
            roots.append(Path(ws.root_path))
        return roots

    # -- talking to the user --------------------------------------------------------------------

    def send_status(self, state: str, model: str, message: str) -> None:
        params: dict[str, Any] = {"state": state, "model": model}
        if message:
            params["message"] = message
        last = self.stats.last
        if last is not None and last.outcome == "shown":
            params["lastLatencyMs"] = round(last.total_ms, 1)
        try:
            self.protocol.notify(STATUS_NOTIFICATION, params)
        except Exception:
            log.debug("could not send status", exc_info=True)
        if state == "error":
            self.tell_once(f"model-error:{message}", f"qwen-ls: {message}", types.MessageType.Error)
        elif state == "unavailable":
            self.tell_once(f"server-down:{message}", f"qwen-ls: {message}", types.MessageType.Warning)
        elif state == "ready":
            self.forget_told("model-error:")
            self.forget_told("server-down:")

    def tell_once(self, key: str, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        """Show a message once per failure state (not once per keystroke); always log it."""
        with self._tell_lock:
            if key in self._told:
                return
            self._told.add(key)
        log.log(logging.ERROR if kind == types.MessageType.Error else logging.WARNING, "%s", message)
        try:
            self.window_show_message(types.ShowMessageParams(type=kind, message=message))
        except Exception:
            log.debug("could not show message", exc_info=True)

    def forget_told(self, prefix: str) -> None:
        with self._tell_lock:
            self._told = {k for k in self._told if not k.startswith(prefix)}


def create_server(cli_settings: Mapping[str, Any] | None = None) -> QwenLanguageServer:
    server = QwenLanguageServer(cli_settings)
    from qwen_ls.features import register_all

    register_all(server)
    return server
