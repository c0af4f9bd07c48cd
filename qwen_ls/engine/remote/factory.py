"""Building a remote engine: from the server's `Settings` (`engine.kind` llama-server or openai, the
`engine.remote` section, `engine.nCtx`), or from a `RemoteSettings` directly (tests, benchmarks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qwen_ls.engine.base import Tokenizer
from qwen_ls.engine.remote.client import HealthCallback
from qwen_ls.engine.remote.engine import RemoteEngine
from qwen_ls.engine.remote.settings import ClientPolicy, RemoteKind, RemoteSettings

if TYPE_CHECKING:
    from qwen_ls.config import Settings


def open_remote_engine(
    remote: RemoteSettings,
    *,
    kind: RemoteKind = "openai",
    n_ctx: int = 4096,
    policy: ClientPolicy | None = None,
    on_health_change: HealthCallback | None = None,
) -> RemoteEngine:
    """A remote engine; the tokenizer comes from `remote.tokenizer_model` (a vocab-only load) when set."""
    tokenizer: Tokenizer | None = None
    if remote.tokenizer_model:
        from qwen_ls.engine.llama import load_tokenizer

        tokenizer = load_tokenizer(remote.tokenizer_model)
    engine = RemoteEngine(
        remote, tokenizer, kind=kind, n_ctx=n_ctx, policy=policy, on_health_change=on_health_change
    )
    engine.connect()
    return engine


def create_remote_engine(settings: Settings, on_health_change: HealthCallback | None = None) -> RemoteEngine:
    """The remote engine the settings name."""
    engine = settings.engine
    kind: RemoteKind = engine.kind if engine.kind != "embedded" else "openai"
    return open_remote_engine(engine.remote, kind=kind, n_ctx=engine.n_ctx, on_health_change=on_health_change)
