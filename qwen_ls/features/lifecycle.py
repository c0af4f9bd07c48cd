"""initialize / initialized / configuration / shutdown: the router for the server's life cycle.

At initialize the client's capabilities are read once (`ClientFeatures`) and every feature's
`initialize` hook runs (a feature may register handlers there: pygls announces the capabilities only
after this handler returns). After `initialized` and each configuration change the settings are
applied: every feature's `configure` hook, then the model (reloaded with progress when the settings
that identify it changed), then the completion service.
"""

from __future__ import annotations

import asyncio
import logging

from lsprotocol import types

from qwen_ls.features.base import ClientFeatures, Feature

log = logging.getLogger(__name__)

SECTION = "qwen"


def section(value: object) -> dict[str, object]:
    """The `qwen` settings from what an editor sent: `{"qwen": {...}}` or the section itself."""
    if isinstance(value, dict):
        inner = value.get(SECTION)
        return dict(inner) if isinstance(inner, dict) else dict(value)
    return {}


class Lifecycle(Feature):
    def register(self) -> None:
        server = self.server

        @server.feature(types.INITIALIZE)
        def initialize(params: types.InitializeParams) -> None:
            self.initialize_server(params)

        @server.feature(types.INITIALIZED)
        async def initialized(params: types.InitializedParams) -> None:
            await self.pull_configuration()
            await self.apply()

        @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
        async def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
            pushed = section(params.settings) if params.settings else {}
            if pushed:
                self.server.client_settings = pushed
            else:
                await self.pull_configuration()
            self.server.forget_told("settings:")
            await self.apply()

        @server.feature(types.SHUTDOWN)
        def shutdown(params: None = None) -> None:
            for feature in self.server.features:
                feature.shutdown()
            self.services.close()

    def initialize_server(self, params: types.InitializeParams) -> None:
        server = self.server
        server.client = ClientFeatures.read(params)
        server.init_options = section(params.initialization_options)
        server.apply_settings()
        for feature in server.features:
            feature.initialize(server.client)

    async def pull_configuration(self) -> None:
        """workspace/configuration for section `qwen`, when the client supports it."""
        if not self.server.client.configuration:
            return
        try:
            result = await asyncio.wait_for(
                self.server.workspace_configuration_async(
                    types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
                ),
                timeout=5,
            )
        except Exception:
            log.debug("workspace/configuration failed", exc_info=True)
            return
        if result and isinstance(result[0], dict):
            self.server.client_settings = section(result[0])

    async def apply(self) -> None:
        """Make every feature and service follow the current settings."""
        settings = self.server.apply_settings()
        for feature in self.server.features:
            feature.configure(settings)
        services = self.services
        await services.models.ensure(settings)
        engine = services.completion_engine()
        if engine is not None:
            services.context.use_tokenizer(engine.tokenizer)
        services.completions.configure(settings, engine, services.context.engine)
