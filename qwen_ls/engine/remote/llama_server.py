"""llama.cpp's llama-server: `POST /completion` with our token ids as the prompt.

The prompt goes as token ids (no text round trip, so it is exactly the embedded engine's prompt, repository
context and FIM markers included), with `cache_prompt` (the server's KV reuse) and `return_tokens`, so stop
ids are seen exactly as the embedded engine sees them. llama-server's own `/infill` would assemble a FIM
prompt of its own (a fixed repository name and file names); the test against a real llama-server checks
that both agree on a plain prefix/suffix prompt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import httpx

from qwen_ls import qwen
from qwen_ls.engine.base import EngineError, GenerationRequest, GenerationResult, Tokenizer
from qwen_ls.engine.remote.client import RemoteClient
from qwen_ls.engine.remote.wire import Piece, ServerInfo, bearer_headers


def _n_ctx_of(props: Any) -> int | None:
    if not isinstance(props, dict):
        return None
    n_ctx = (props.get("default_generation_settings") or {}).get("n_ctx")
    return n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None


class LlamaServerFormat:
    """The wire format of `engine.kind = "llama-server"`."""

    health_path = "/health"

    def __init__(self, client: RemoteClient) -> None:
        self.client = client

    def headers(self, api_key: str | None) -> dict[str, str]:
        return bearer_headers(api_key)

    def connect(self) -> int | None:
        """The context size the server runs with (/props): never budget beyond it."""
        try:
            return _n_ctx_of(self.client.request("GET", "/props").json())
        except (EngineError, ValueError):
            return None

    def model_name(self, ask: bool = True) -> str | None:
        # llama-server serves the one model it loaded; the name is only shown.
        return self.client.settings.model or None

    def build_body(
        self, request: GenerationRequest, stop_ids: Sequence[int], tokenizer: Tokenizer
    ) -> tuple[str, dict[str, Any]]:
        # Stop ids are not sent: the server returns the tokens, and `parse_event` stops on ours (llama.cpp's
        # own end-of-generation set lacks the FIM markers).
        return "/completion", {
            "prompt": list(request.prompt),
            "n_predict": request.max_tokens,
            "temperature": request.temperature,
            "top_k": 1 if request.temperature <= 0 else 40,
            "repeat_penalty": 1.0,
            "cache_prompt": True,
            "stream": True,
            "return_tokens": True,
            "stop": list(qwen.STOP_TEXTS),
        }

    def parse_event(
        self,
        event: Mapping[str, Any],
        result: GenerationResult,
        stop_ids: AbstractSet[int],
        tokenizer: Tokenizer,
    ) -> Piece:
        piece = Piece(text=str(event.get("content", "")))
        tokens = [int(t) for t in event.get("tokens", []) or []]
        for i, tok in enumerate(tokens):
            if tok in stop_ids:
                piece.hit_stop = True
                if i < len(tokens) - 1:
                    # Tokens after the stop came in the same event: rebuild the text from the ids before it.
                    data = b"".join(tokenizer.token_to_bytes(t) for t in tokens[:i])
                    piece.text = data.decode("utf-8", "replace")
                tokens = tokens[:i]
                break
        result.tokens.extend(tokens)
        result.n_generated += len(tokens) if "tokens" in event else (1 if piece.text else 0)
        piece.finished = bool(event.get("stop"))
        if piece.finished:
            self._finish(event, result, piece)
        return piece

    @staticmethod
    def _finish(event: Mapping[str, Any], result: GenerationResult, piece: Piece) -> None:
        """The last event: why the server stopped, and its timings (prompt tokens evaluated and cached)."""
        stop_type = event.get("stop_type", "")
        if stop_type == "limit":
            result.stop_reason = result.stop_reason or "length"
        elif not piece.hit_stop:
            result.stop_reason = result.stop_reason or "stop"
        timings = event.get("timings") or {}
        evaluated = timings.get("prompt_n")
        if isinstance(evaluated, int):
            result.n_evaluated = evaluated
            cached = timings.get("cache_n")
            result.n_reused = cached if isinstance(cached, int) else max(0, result.n_prompt - evaluated)
        if isinstance(timings.get("predicted_n"), int) and not result.tokens:
            result.n_generated = timings["predicted_n"]
        n_ctx = (event.get("generation_settings") or {}).get("n_ctx")
        if isinstance(n_ctx, int) and n_ctx > 0:
            piece.n_ctx = n_ctx

    def tokenize(self, text: str, special: bool) -> list[int]:
        body = {"content": text, "add_special": False, "parse_special": special}
        r = self.client.guarded_request("POST", "/tokenize", json=body)
        return [int(t) for t in r.json()["tokens"]]

    def token_bytes(self, token: int) -> bytes:
        r = self.client.guarded_request("POST", "/detokenize", json={"tokens": [token]})
        return str(r.json().get("content", "")).encode("utf-8")

    def server_info(self, probe: httpx.Response) -> ServerInfo:
        props = self.client.request("GET", "/props").json()
        model_path = props.get("model_path") if isinstance(props, dict) else None
        return ServerInfo(models=[str(model_path)] if model_path else [], n_ctx=_n_ctx_of(props))
