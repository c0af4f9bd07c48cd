"""Thin LSP glue: each module translates lsprotocol types and calls the core. `register_all` wires them."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qwen_ls.server import QwenLanguageServer

MODULES = [
    "qwen_ls.features.lifecycle",
    "qwen_ls.features.sync",
    "qwen_ls.features.inline_completion",
    "qwen_ls.features.commands",
    "qwen_ls.features.code_actions",
]


def register_all(server: QwenLanguageServer) -> None:
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a feature not built yet
                continue
            raise
        module.register(server)
