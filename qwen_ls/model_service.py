"""Which model is loaded, and in what state: resolve, validate, load, report, reload on a settings change.

No LSP types: the server passes callbacks for status, progress and the one message per failure state.
Loading runs on the engine lane, so it never overlaps a generation on the same llama context.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from qwen_ls.config import Settings
from qwen_ls.engine.base import CancelToken, Engine, EngineError
from qwen_ls.scheduler import PRIORITY_LOAD, EngineLane

log = logging.getLogger(__name__)

StatusCallback = Callable[[str, str, str], None]  # (state, model, message)
ProgressCallback = Callable[[str, int | None], None]  # (message, percent)


class ProgressReporter(Protocol):
    """A progress bar in the editor: begun by `ModelService`'s `on_progress_begin(title)`."""

    def report(self, message: str, percentage: int | None = None) -> None: ...

    def end(self, message: str = "") -> None: ...


@dataclass(frozen=True)
class ModelKey:
    """What identifies a loaded engine: a change of any of these reloads it."""

    kind: str
    model: str
    engine: Any


def _load_engine(settings: Settings, progress: ProgressCallback, cancel: CancelToken) -> Engine:
    """Resolve, validate and load the completion engine (runs on the engine lane)."""
    kind = settings.engine.kind
    if kind != "embedded":
        from qwen_ls.engine.factory import create_remote_engine

        return create_remote_engine(settings)
    from qwen_ls.models.load import load_llama_engine

    return load_llama_engine(
        settings.model,
        settings.engine.embedded(),
        download=settings.model_download,
        progress=progress,
        cancel=cancel,
    )


class ModelService:
    def __init__(
        self,
        lane: EngineLane,
        on_status: StatusCallback,
        on_progress_begin: Callable[[str], ProgressReporter] | None = None,
    ) -> None:
        self.lane = lane
        self.on_status = on_status
        self.on_progress_begin = on_progress_begin
        self.engine: Engine | None = None
        self.state = "disabled"
        self.message = ""
        self.key: ModelKey | None = None
        self.load_seconds = 0.0
        self._loading: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self.state == "ready" and self.engine is not None

    def key_for(self, settings: Settings) -> ModelKey:
        e = settings.engine
        return ModelKey(kind=e.kind, model=settings.model, engine=(e.embedded(), e.remote))

    def _set(self, state: str, message: str = "") -> None:
        self.state, self.message = state, message
        model = self.key.model if self.key else ""
        self.on_status(state, model, message)

    async def ensure(self, settings: Settings) -> None:
        """Load (or reload) the engine when the settings that identify it changed."""
        if not settings.enable:
            await self.unload()
            self.key = None
            self._set("disabled", "completions are disabled (setting `enable`)")
            return
        key = self.key_for(settings)
        if key == self.key and self.state in ("ready", "loading"):
            return
        if key == self.key and self.state == "error":
            return  # same broken settings: do not retry and re-report on every change
        self.key = key
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        self._loading = asyncio.ensure_future(self._load(settings, key))
        await asyncio.shield(self._loading)

    async def _load(self, settings: Settings, key: ModelKey) -> None:
        await self.unload()
        self._set("loading", f"loading {settings.model}")
        progress = (
            self.on_progress_begin(f"qwen-ls: loading {settings.model}") if self.on_progress_begin else None
        )

        def report(message: str, pct: int | None) -> None:
            if progress is not None:
                self.lane.loop.call_soon_threadsafe(progress.report, message, pct)

        t0 = time.perf_counter()
        job = self.lane.submit(
            lambda cancel: _load_engine(settings, report, cancel), kind="load", priority=PRIORITY_LOAD
        )
        try:
            engine = await job.future
        except EngineError as exc:
            if progress is not None:
                progress.end(f"failed: {exc.message}")
            if self.key == key:
                self._set("error", str(exc))
            log.error("model %s: %s", settings.model, exc)
            return
        except Exception as exc:  # an unexpected failure is still one clear message
            if progress is not None:
                progress.end("failed")
            if self.key == key:
                self._set("error", f"could not load {settings.model}: {exc}")
            log.exception("model %s failed to load", settings.model)
            return
        if engine is None or self.key != key:  # superseded by a newer settings change
            if engine is not None:
                engine.close()
            if progress is not None:
                progress.end("superseded")
            return
        self.engine = engine
        if hasattr(engine, "on_health_change"):
            loop = asyncio.get_running_loop()
            model = settings.model if settings.engine.kind == "embedded" else settings.engine.remote.url

            def on_health(healthy: bool, message: str) -> None:  # from the engine's thread
                # the state stays "ready": requests keep reaching the engine, whose breaker answers
                # empty at once while the server is down and probes it to recover by itself
                state = "ready" if healthy else "unavailable"
                loop.call_soon_threadsafe(self.on_status, state, model, message)

            engine.on_health_change = on_health
        self.load_seconds = time.perf_counter() - t0
        if progress is not None:
            progress.end(f"ready in {self.load_seconds:.1f}s")
        self._set("ready", f"{engine.info.name} ready")

    async def unload(self) -> None:
        engine, self.engine = self.engine, None
        if engine is None:
            return
        self.lane.cancel_where(lambda j: True, "model change")
        job = self.lane.submit(lambda cancel: engine.close(), kind="unload", priority=PRIORITY_LOAD)
        await job.future
