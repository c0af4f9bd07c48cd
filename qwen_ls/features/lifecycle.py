"""initialize / initialized / configuration / shutdown: settings, services, model load, workspace index."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from qwen_ls.completion_service import CompletionService

if TYPE_CHECKING:
    from qwen_ls.server import QwenLanguageServer

log = logging.getLogger(__name__)

SECTION = "qwen"


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        # editors send either {"qwen": {...}} or the section itself
        inner = value.get(SECTION)
        return dict(inner) if isinstance(inner, dict) else dict(value)
    return {}


def register(server: QwenLanguageServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: QwenLanguageServer, params: types.InitializeParams) -> None:
        ls.init_options = _as_dict(params.initialization_options)
        ls.apply_settings(ls.init_options)
        ls.start_services()
        assert ls.lane is not None
        ls.completions = CompletionService(ls.lane, ls.stats)
        caps = params.capabilities.text_document
        has_inline = caps is not None and getattr(caps, "inline_completion", None) is not None
        ls.state["client_inline"] = has_inline
        if has_inline:
            # the completion-menu fallback is only for clients without inline completion
            ls.protocol.fm.features.pop(types.TEXT_DOCUMENT_COMPLETION, None)
        ca = caps.code_action if caps is not None else None
        ls.state["resolve_support"] = bool(
            ca is not None
            and ca.resolve_support is not None
            and "edit" in (ca.resolve_support.properties or [])
        )
        ls.state["client_name"] = params.client_info.name if params.client_info else ""

    @server.feature(types.INITIALIZED)
    async def initialized(ls: QwenLanguageServer, params: types.InitializedParams) -> None:
        await pull_configuration(ls)
        await apply(ls)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: QwenLanguageServer, params: types.DidChangeConfigurationParams
    ) -> None:
        pushed = _as_dict(params.settings) if params.settings else {}
        if pushed:
            ls.client_settings = pushed
        else:
            await pull_configuration(ls)
        ls.forget_told("settings:")
        await apply(ls)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: QwenLanguageServer, params: Any = None) -> None:
        if ls.context is not None:
            ls.context.close()
        if ls.repair is not None:
            ls.repair.close()
        if ls.lane is not None:
            ls.lane.close()


async def pull_configuration(ls: QwenLanguageServer) -> None:
    """workspace/configuration for section `qwen`, when the client supports it."""
    ws = ls.client_capabilities.workspace
    if ws is None or not ws.configuration:
        return
    try:
        result = await asyncio.wait_for(
            ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
            ),
            timeout=5,
        )
    except Exception:
        log.debug("workspace/configuration failed", exc_info=True)
        return
    if result and isinstance(result[0], dict):
        ls.client_settings = _as_dict(result[0])


async def apply(ls: QwenLanguageServer) -> None:
    """Make the services follow the current settings: context engine, model (reloading with progress)."""
    ls.apply_settings(ls.init_options, ls.client_settings)
    from qwen_ls.features.context_glue import ensure_context

    ensure_context(ls)
    assert ls.models is not None
    await ls.models.ensure(ls.settings)
    engine = ls.models.engine if ls.models.ready else None
    if engine is not None and ls.context is not None:
        tok = engine.tokenizer
        ls.context.set_token_counter(lambda text: len(tok.tokenize(text)))  # exact from now on
    ls.completions.configure(ls.settings, engine, ls.context)
