"""llama-cpp-python, imported once with its logging routed to Python logging, and the model figures
read from a loaded GGUF. Split out of `qwen_ls.engine.llama`."""

from __future__ import annotations

import ctypes
import logging
import threading
from pathlib import Path
from typing import Any

from qwen_ls.engine.base import EngineError, ModelInfo

llama_log = logging.getLogger("llama.cpp")

#: What llama.cpp logs, as errors, for a decode that our abort callback stopped (a cancelled request's
#: prefill; GGML_STATUS_ABORTED is 1, llama_decode's "aborted" is 2): expected, so kept at DEBUG.
ABORTED_DECODE = (
    "failed with error 1",
    "compute status: 1",
    "failed to decode, ret = 2",
    "removing memory module entries",
)

_lib_lock = threading.Lock()
_lib: Any = None
_log_callback: Any = None  # keep the ctypes callback alive for the life of the process


def _llama() -> Any:
    """Import llama_cpp once, initialise the backend and route its logging to Python logging (stderr)."""
    global _lib, _log_callback
    with _lib_lock:
        if _lib is not None:
            return _lib
        try:
            import llama_cpp
        except Exception as exc:  # pragma: no cover - depends on the install
            raise EngineError(
                f"llama-cpp-python could not be imported: {exc}",
                "reinstall it: pip install --force-reinstall llama-cpp-python",
            ) from exc

        # ggml_log_level: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (continues the previous record)
        levels = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}

        @llama_cpp.llama_log_callback
        def _route(level: int, text: bytes, _user: Any) -> None:
            # llama.cpp logs a lot at INFO during load; keep it at DEBUG unless it is a warning or error.
            py_level = levels.get(level, logging.DEBUG)
            if py_level < logging.WARNING:  # load chatter stays at DEBUG
                py_level = logging.DEBUG
            if py_level == logging.DEBUG and not llama_log.isEnabledFor(logging.DEBUG):
                return  # (the common case: nothing to decode)
            msg = text.decode("utf-8", "replace").rstrip()
            if py_level > logging.DEBUG and any(part in msg for part in ABORTED_DECODE):
                py_level = logging.DEBUG
            if msg and llama_log.isEnabledFor(py_level):
                llama_log.log(py_level, "%s", msg)

        _log_callback = _route
        # backend init resets the log callback: set ours after it
        llama_cpp.llama_backend_init()
        llama_cpp.llama_log_set(_route, ctypes.c_void_p(0))
        _lib = llama_cpp
        return _lib


def read_model_info(lib: Any, model: Any, path: Path, n_vocab: int, fim_ids: dict[str, int]) -> ModelInfo:
    """The model's figures from its GGUF metadata (`model`: the engine's loaded model)."""
    m = model
    arch = m.meta("general.architecture") or ""

    def meta_int(key: str) -> int:
        v = m.meta(f"{arch}.{key}")
        try:
            return int(v) if v is not None else 0
        except ValueError:
            return 0

    ftype = m.meta("general.file_type")
    return ModelInfo(
        path=str(path),
        name=m.meta("general.name") or path.stem,
        size_bytes=path.stat().st_size,
        architecture=arch,
        n_params=int(lib.llama_model_n_params(m.ptr)),
        n_layer=meta_int("block_count"),
        n_embd=meta_int("embedding_length"),
        n_head=meta_int("attention.head_count"),
        n_head_kv=meta_int("attention.head_count_kv"),
        n_ctx_train=meta_int("context_length"),
        n_vocab=n_vocab,
        file_type=_FILE_TYPES.get(int(ftype), ftype) if ftype and ftype.isdigit() else (ftype or ""),
        fim_ids=fim_ids,
        chat_template=m.meta("tokenizer.chat_template"),
        backend="embedded",
    )


#: llama_ftype values for the quantizations people use (llama.h).
_FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    32: "BF16",
}
