"""The language server object: settings, client capabilities, the services, and talking to the user.

What it holds is built elsewhere (`qwen_ls.app`, the composition root); what it does on each LSP
message is in the features (`qwen_ls.features`). No feature logic here.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from qwen_ls import __version__, protocol
from qwen_ls.config import Settings, load_settings
from qwen_ls.features.base import ClientFeatures, Feature
from qwen_ls.lsp.jsonrpc import QwenProtocol

if TYPE_CHECKING:
    from qwen_ls.app import Services

log = logging.getLogger(__name__)


class Progress:
    """A work-done progress bar in the editor (a no-op for clients without the capability)."""

    def __init__(self, server: QwenLanguageServer, title: str) -> None:
        self.server = server
        self.token: str | None = None
        if not server.client.work_done_progress:
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
    """Holds the settings, the client's capabilities and the services; talks to the user.

    Built by `qwen_ls.app.create_server`, which passes the function that builds the services and adds
    the features; no feature logic here.
    """

    def __init__(
        self,
        cli_settings: Mapping[str, object] | None,
        build_services: Callable[[QwenLanguageServer], Services],
    ) -> None:
        super().__init__(
            "qwen-ls",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            converter_factory=protocol.converter,
            protocol_cls=QwenProtocol,
        )
        #: settings given on the command line (lowest layer above defaults; the editor can override)
        self.cli_settings: dict[str, object] = dict(cli_settings or {})
        #: `initializationOptions` and the editor's `qwen` configuration section, as last sent
        self.init_options: dict[str, object] = {}
        self.client_settings: dict[str, object] = {}
        self.settings = Settings()
        self.client = ClientFeatures()
        self.features: list[Feature] = []
        self._told: set[str] = set()
        self._tell_lock = threading.Lock()
        self.services: Services = build_services(self)

    def add_feature(self, feature: Feature) -> None:
        """Register the feature's handlers; the routers call its hooks from now on."""
        feature.register()
        self.features.append(feature)

    def apply_settings(self) -> Settings:
        """Settings from all layers; each problem is told once and its value falls back to the default."""
        settings, warnings = load_settings(self.cli_settings, self.init_options, self.client_settings)
        self.settings = settings
        for w in warnings:
            self.tell_once(f"settings:{w}", f"qwen-ls: {w}", types.MessageType.Warning)
        return settings

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

    def begin_progress(self, title: str) -> Progress:
        """A work-done progress bar (a no-op for clients without the capability)."""
        return Progress(self, title)

    def send_status(self, state: str, model: str, message: str) -> None:
        last = self.services.stats.last
        params = protocol.StatusParams(
            state=protocol.ModelState(state),
            model=model,
            message=message or None,
            last_latency_ms=round(last.total_ms, 1) if last is not None and last.outcome == "shown" else None,
        )
        try:
            self.protocol.notify(protocol.STATUS, params)
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
        self.show(message, kind)

    def show(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        try:
            self.window_show_message(types.ShowMessageParams(type=kind, message=message))
        except Exception:
            log.debug("could not show message", exc_info=True)

    def forget_told(self, prefix: str) -> None:
        with self._tell_lock:
            self._told = {k for k in self._told if not k.startswith(prefix)}
