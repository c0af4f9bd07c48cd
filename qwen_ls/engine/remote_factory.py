"""The remote engine built from the server's settings (`engine.kind` "llama-server" or "openai").

`qwen_ls.config` keeps the remote options in `engine.remote`; this maps them onto `RemoteSettings`, so
the settings layer and the HTTP engine stay independent of each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qwen_ls.engine.http import HealthCallback, RemoteEngine, RemoteSettings
from qwen_ls.engine.http import create_remote_engine as _create

if TYPE_CHECKING:
    from qwen_ls.config import Settings


def remote_settings_from(settings: Settings) -> RemoteSettings:
    e = settings.engine
    r = e.remote
    kind = e.kind if e.kind in ("llama-server", "openai") else "openai"
    return RemoteSettings(
        kind=kind,
        url=r.url,
        model=r.model,
        api_key_env=r.api_key_env,
        api_key_file=r.api_key_file,
        timeout_ms=r.timeout_ms,
        retries=r.retries,
        ca_bundle=r.ca_bundle,
        n_ctx=e.n_ctx,
    )


def create_remote_engine(settings: Settings, on_health_change: HealthCallback | None = None) -> RemoteEngine:
    """The remote engine the settings name; the tokenizer from `engine.remote.tokenizerModel` if set."""
    return _create(
        remote_settings_from(settings),
        settings.engine.remote.tokenizer_model or None,
        on_health_change=on_health_change,
    )
