"""Loading the completion engine from the command line, with a progress bar and one-line errors."""

from __future__ import annotations

import sys
import time
from typing import Any

from qwen_ls.config import Settings, load_settings
from qwen_ls.engine.base import CancelToken, Engine, EngineError


def load_cli_settings(layer: dict[str, Any]) -> Settings:
    settings, warnings = load_settings(layer)
    for w in warnings:
        print(f"qwen-ls: warning: {w}", file=sys.stderr)
    return settings


class _Bar:
    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.2 and done != total:
            return
        self.last = now
        if total:
            pct = done * 100 // total
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\r  [{bar:<25}] {pct:3d}% {done / 1e6:,.0f}/{total / 1e6:,.0f} MB")
        else:
            sys.stderr.write(f"\r  {done / 1e6:,.0f} MB")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def load_engine(settings: Settings) -> tuple[Engine, float]:
    """The engine the settings name, loaded; raises EngineError with a fix on any failure."""
    t0 = time.perf_counter()
    if settings.engine.kind != "embedded":
        from qwen_ls.engine.factory import create_remote_engine

        return create_remote_engine(settings), time.perf_counter() - t0
    from qwen_ls.models.load import load_llama_engine

    def started_loading(message: str, percent: int | None) -> None:
        nonlocal t0
        if message.startswith("loading "):  # the load time leaves out finding and downloading
            t0 = time.perf_counter()

    engine = load_llama_engine(
        settings.model,
        settings.engine.embedded(),
        download=settings.model_download,
        progress=started_loading,
        cancel=CancelToken(),
        download_bytes=_Bar(),
    )
    return engine, time.perf_counter() - t0


def describe_error(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, EngineError):
        return exc.message, exc.fix
    return str(exc) or exc.__class__.__name__, ""
