"""The remote engine's settings: the `engine.remote` section, declared once, and the client's fixed policy.

`qwen_ls.config` nests `RemoteSettings` as `engine.remote`; which server kind and how large a context
come from `engine.kind` and `engine.nCtx`. `ClientPolicy` holds the retry and circuit-breaker timings:
not user settings (the defaults suit every server), but tests and benchmarks shorten them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from qwen_ls.engine.base import EngineError

#: The server kinds, one wire format each (`formats.WIRE_FORMATS`); `engine.kind` is one of them or
#: "embedded" (written out again because a settings enum must be one Literal).
RemoteKind = Literal["llama-server", "openai"]
EngineKind = Literal["embedded", "llama-server", "openai"]
REMOTE_KINDS: tuple[str, ...] = get_args(RemoteKind)


@dataclass(frozen=True)
class RemoteSettings:
    """A shared inference server instead of the embedded engine (`engine.kind` llama-server or openai)."""

    #: Base URL of the server, e.g. http://127.0.0.1:8080
    url: str = ""
    #: Model name sent to an OpenAI-compatible server.
    model: str = ""
    #: Name of the environment variable that holds the API key (never logged).
    api_key_env: str = "QWEN_LS_API_KEY"
    #: A file that holds the API key, as an alternative to the environment variable.
    api_key_file: str = ""
    #: A CA bundle for servers with a private certificate; TLS verification is always on.
    ca_bundle: str = ""
    #: Connect and first-byte timeout.
    timeout_ms: int = 5000
    #: Retries of a failed connection before any output, with backoff.
    retries: int = 2
    #: A GGUF (a vocab-only one is enough) for exact token budgets; else the server's tokenize endpoint.
    tokenizer_model: str = ""

    def validate(self) -> list[str]:
        """Problems with the values themselves (an empty url is fine until a remote kind is chosen)."""
        problems = []
        if self.url and not self.url.startswith(("http://", "https://")):
            problems.append("url must start with http:// or https://")
        if self.timeout_ms < 50:
            problems.append("timeoutMs must be at least 50")
        if not 0 <= self.retries <= 10:
            problems.append("retries must be between 0 and 10")
        return problems

    def connect_problems(self, kind: str) -> list[str]:
        """Everything that stops an engine from being built for `kind` with these settings."""
        problems = self.validate()
        if kind not in REMOTE_KINDS:
            problems.append("kind must be llama-server or openai")
        if not self.url:
            problems.append("url is empty")
        if self.ca_bundle and not Path(self.ca_bundle).expanduser().is_file():
            problems.append(f"caBundle {self.ca_bundle} is not a file")
        if self.api_key_file and not Path(self.api_key_file).expanduser().is_file():
            problems.append(f"apiKeyFile {self.api_key_file} is not a file")
        return problems

    def api_key(self) -> str | None:
        """The key from the environment variable or the file; never logged."""
        if self.api_key_env:
            value = os.environ.get(self.api_key_env, "").strip()
            if value:
                return value
        if self.api_key_file:
            try:
                lines = Path(self.api_key_file).expanduser().read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise EngineError(
                    f"cannot read the API key file {self.api_key_file}: {exc.strerror}",
                    "check engine.remote.apiKeyFile",
                ) from None
            if lines and lines[0].strip():
                return lines[0].strip()
        return None

    @property
    def timeout_s(self) -> float:
        return self.timeout_ms / 1000.0


@dataclass(frozen=True)
class ClientPolicy:
    """Retry and circuit-breaker timings of the HTTP client (not user settings)."""

    #: First retry delay; doubles on each retry.
    retry_backoff_ms: int = 100
    #: Consecutive failures that open the circuit breaker (completions become empty at once).
    breaker_failures: int = 2
    #: Wait before the first probe of a server the breaker cut off; doubles up to breaker_max_cooldown_ms.
    breaker_cooldown_ms: int = 1000
    breaker_max_cooldown_ms: int = 30000

    def validate(self) -> list[str]:
        return ["breakerFailures must be at least 1"] if self.breaker_failures < 1 else []
