"""Inference engines: the in-process llama.cpp engine and the remote HTTP backends, behind one protocol."""

from qwen_ls.engine.base import (
    CancelToken,
    Engine,
    EngineError,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
    Tokenizer,
)

__all__ = [
    "CancelToken",
    "Engine",
    "EngineError",
    "GenerationRequest",
    "GenerationResult",
    "ModelInfo",
    "Tokenizer",
]
