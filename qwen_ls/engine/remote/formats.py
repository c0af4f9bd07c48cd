"""Which wire format each remote `engine.kind` speaks: the one place that dispatches on the kind."""

from __future__ import annotations

from collections.abc import Callable

from qwen_ls.engine.remote.client import RemoteClient
from qwen_ls.engine.remote.llama_server import LlamaServerFormat
from qwen_ls.engine.remote.openai import OpenAIFormat
from qwen_ls.engine.remote.settings import RemoteKind
from qwen_ls.engine.remote.wire import WireFormat

#: A new server kind: its module here, and its name in `settings.RemoteKind` / `settings.EngineKind`.
WIRE_FORMATS: dict[RemoteKind, Callable[[RemoteClient], WireFormat]] = {
    "llama-server": LlamaServerFormat,
    "openai": OpenAIFormat,
}


def wire_format(kind: RemoteKind, client: RemoteClient) -> WireFormat:
    return WIRE_FORMATS[kind](client)
