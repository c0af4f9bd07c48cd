"""The protocol a server kind's wire format implements, and the values that cross it.

A wire format knows one server API: the request body for a streamed completion, what one streamed event
means, where the tokenizer and the model information live. The HTTP client, retries, the breaker, the
watchdog and stop handling are shared (`client.py`, `engine.py`, `stream.py`); `formats.py` maps each
`engine.kind` to its format, the one place that dispatches on the kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from qwen_ls.engine.base import GenerationRequest, GenerationResult, Tokenizer


@dataclass
class Piece:
    """What one streamed event adds: text, and whether the stream is over."""

    text: str = ""
    #: The server's last event for this completion: read what is left of the stream, then stop.
    finished: bool = False
    #: A stop id came in this event; `text` holds only what came before it.
    hit_stop: bool = False
    #: The server's context size, when the event reports it (never budget beyond it).
    n_ctx: int | None = None


@dataclass
class ServerInfo:
    """What `qwen-ls check` reports about the server besides its latency."""

    models: list[str] = field(default_factory=list)
    n_ctx: int | None = None
    #: Whether `models` are the names a request may ask for (so `engine.remote.model` must be one).
    models_are_names: bool = False


def bearer_headers(api_key: str | None) -> dict[str, str]:
    """The API key as a Bearer token (what both llama-server and OpenAI-compatible servers take)."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


class WireFormat(Protocol):
    """One server kind's HTTP API. Built per engine with its `RemoteClient`; called from the engine's
    worker thread (generation) and from any thread (the tokenizer endpoints)."""

    #: A cheap GET that answers 200 while the server is up (`qwen-ls check` measures its latency).
    health_path: str

    def headers(self, api_key: str | None) -> dict[str, str]:
        """Headers sent with every request (authentication)."""
        ...

    def connect(self) -> int | None:
        """Best effort when the engine is built (a server that is down is asked again later): learn what
        requests need; returns the server's context size if it reports one."""
        ...

    def model_name(self, ask: bool = True) -> str | None:
        """The model named in requests and shown in status; None for the server's default. `ask`: the
        server may be asked (a round trip, once); otherwise only what is already known."""
        ...

    def build_body(
        self, request: GenerationRequest, stop_ids: Sequence[int], tokenizer: Tokenizer
    ) -> tuple[str, dict[str, Any]]:
        """The path and JSON body of a streamed, greedy completion of `request.prompt` (token ids).
        Raises EngineError when the prompt cannot be sent exactly."""
        ...

    def parse_event(
        self,
        event: Mapping[str, Any],
        result: GenerationResult,
        stop_ids: AbstractSet[int],
        tokenizer: Tokenizer,
    ) -> Piece:
        """One streamed JSON event: returns its text; updates the counts and stop reason in `result`."""
        ...

    def tokenize(self, text: str, special: bool) -> list[int]:
        """The server's tokenization of `text` (special-token texts parsed when `special`), no BOS."""
        ...

    def token_bytes(self, token: int) -> bytes:
        """The bytes of one token, from the server."""
        ...

    def server_info(self, probe: httpx.Response) -> ServerInfo:
        """Models and context size; `probe` is the answer to `health_path`."""
        ...
