"""Loading a GGUF into the embedded engine: resolve (path or catalog name), validate, load.

The one way completions (`ModelService`), repairs (`RepairService`) and the CLI turn a model setting
into a running `LlamaEngine`, so all of them check the same things and fail with the same messages.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from qwen_ls.engine.base import CancelToken

if TYPE_CHECKING:
    from qwen_ls.engine.llama import EngineSettings, LlamaEngine

#: (message, percent or None) while the model is found, downloaded, checked and loaded.
LoadProgress = Callable[[str, int | None], None]


def _quiet(message: str, percent: int | None) -> None:
    pass


def load_llama_engine(
    model: str,
    settings: EngineSettings,
    *,
    download: bool = False,
    progress: LoadProgress = _quiet,
    cancel: CancelToken | None = None,
    download_bytes: Callable[[int, int], None] | None = None,
) -> LlamaEngine:
    """The model `model` names (a path or a catalog name), checked and loaded in-process.

    Raises `ModelError` (not found, not downloaded, a GGUF that cannot work) or `EngineError`.
    Downloads only with `download`; `cancel` stops a download between chunks. `download_bytes`, when
    given, gets the download's (done, total) bytes instead of `progress` (the CLI's progress bar).
    """
    from qwen_ls.engine.llama import LlamaEngine
    from qwen_ls.models.resolve import resolve_model
    from qwen_ls.models.validate import validate_model

    def on_bytes(done: int, total: int) -> None:
        pct = int(done * 100 / total) if total else None
        progress(f"downloading {model}: {done / 1e6:.0f}/{total / 1e6:.0f} MB", pct)

    path = resolve_model(
        model, download=download, progress=download_bytes or on_bytes, cancel=cancel or CancelToken()
    )
    progress(f"checking {Path(path).name}", None)
    validate_model(path)
    progress(f"loading {Path(path).name}", None)
    return LlamaEngine(path, settings)
