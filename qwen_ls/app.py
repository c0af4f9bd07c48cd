"""The composition root: the one place that builds every service, with its dependencies passed in,
and adds the features to the server. Read this file to see how qwen-ls is wired.

    engine lane ─┬─ model service (loads the completion engine; status and progress to the editor)
                 ├─ completion service (snapshot -> context -> prompt -> engine -> post-process)
                 └─ repair service (repair model, or the completion engine for FIM rewrites)
    context service (the repository context engine; exact token counts once a model is loaded)

Features are added in order; the routers (`lifecycle`, `sync`) call their hooks in this order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from qwen_ls.completion_service import CompletionService
from qwen_ls.context_service import ContextService
from qwen_ls.engine.base import Engine
from qwen_ls.features.base import Feature
from qwen_ls.features.code_actions import CodeActions
from qwen_ls.features.commands import Commands
from qwen_ls.features.completions import Completions
from qwen_ls.features.context import RepositoryContext
from qwen_ls.features.lifecycle import Lifecycle
from qwen_ls.features.sync import DocumentSync
from qwen_ls.model_service import ModelService, ProgressReporter
from qwen_ls.repair.service import EngineLoader, RepairService
from qwen_ls.scheduler import EngineLane
from qwen_ls.server import QwenLanguageServer
from qwen_ls.stats import Stats

#: In hook order: the context engine follows new settings before completions use it.
FEATURES: tuple[type[Feature], ...] = (
    Lifecycle,
    DocumentSync,
    RepositoryContext,
    Completions,
    Commands,
    CodeActions,
)


class UserChannel(Protocol):
    """What the services need from the editor connection."""

    def send_status(self, state: str, model: str, message: str) -> None: ...

    def begin_progress(self, title: str) -> ProgressReporter: ...


@dataclass
class Services:
    """Everything the features use, built once per server."""

    lane: EngineLane
    stats: Stats
    models: ModelService
    context: ContextService
    completions: CompletionService
    repair: RepairService

    def completion_engine(self) -> Engine | None:
        """The loaded completion engine, or None while none is ready."""
        return self.models.engine if self.models.ready else None

    def close(self) -> None:
        self.context.close()
        self.repair.close()
        self.lane.close()


def build_services(channel: UserChannel, *, repair_loader: EngineLoader | None = None) -> Services:
    """Every service, each given what it depends on. `repair_loader` replaces how the repair model
    is loaded (the end-to-end tests use a scripted engine)."""
    lane = EngineLane()
    stats = Stats()
    models = ModelService(lane, channel.send_status, channel.begin_progress)

    context = ContextService(lambda: models.engine.tokenizer if models.engine is not None else None)
    completions = CompletionService(lane, stats)
    repair = RepairService(lane, lambda: models.engine if models.ready else None, load_engine=repair_loader)
    return Services(lane, stats, models, context, completions, repair)


def create_server(
    cli_settings: Mapping[str, object] | None = None, *, repair_loader: EngineLoader | None = None
) -> QwenLanguageServer:
    """The language server with its services and every feature."""
    server = QwenLanguageServer(cli_settings, lambda ls: build_services(ls, repair_loader=repair_loader))
    for feature in FEATURES:
        server.add_feature(feature(server))
    return server
