"""OpenAI-compatible completions: `POST /v1/completions` (vLLM, SGLang, llama-cpp-python's server, Ollama).

Our prompt goes as text with the special tokens written out (the server tokenizes with special parsing),
the Qwen stop texts as `stop` and, for servers that take them, `stop_token_ids`. A prompt that cannot be
sent as text exactly (a file that literally contains special-token text, a UTF-8 character split between
tokens) is refused rather than sent different.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import httpx

from qwen_ls import qwen
from qwen_ls.engine.base import EngineError, GenerationRequest, GenerationResult, Tokenizer
from qwen_ls.engine.remote.client import RemoteClient, SideFailure
from qwen_ls.engine.remote.tokenizer import RemoteTokenizer
from qwen_ls.engine.remote.wire import Piece, ServerInfo, bearer_headers

log = logging.getLogger(__name__)

_SEND_IDS = "use engine.kind = llama-server, which takes token ids"


class OpenAIFormat:
    """The wire format of `engine.kind = "openai"`."""

    health_path = "/v1/models"

    def __init__(self, client: RemoteClient) -> None:
        self.client = client
        self._model_name: str | None = client.settings.model or None
        self._specials: dict[int, str] | None = None
        #: the tokenize endpoint that answered (llama-cpp-python's or vLLM's), and the BOS it adds
        self._route: str | None = None
        self._bos: list[int] | None = None

    def headers(self, api_key: str | None) -> dict[str, str]:
        return bearer_headers(api_key)

    def connect(self) -> int | None:
        self.model_name()
        return None

    def model_name(self, ask: bool = True) -> str | None:
        """The setting, else the server's first model (asked once, when `ask`)."""
        if self._model_name is None and ask and not self.client.breaker.blocked():
            timeout = min(2.0, self.client.settings.timeout_s)
            try:
                data = self.client.request("GET", "/v1/models", timeout=timeout).json()
                ids = [str(m["id"]) for m in data.get("data", []) if "id" in m]
                self._model_name = ids[0] if ids else ""
            except (EngineError, ValueError, KeyError, TypeError):
                return None
        return self._model_name or None

    def build_body(
        self, request: GenerationRequest, stop_ids: Sequence[int], tokenizer: Tokenizer
    ) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "prompt": self.prompt_text(request.prompt, tokenizer),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": 1.0,
            "stream": True,
            "stop": list(qwen.STOP_TEXTS),
            # Extensions that servers which do not know them ignore: vLLM/SGLang stop on ids (their
            # detokenizers hide special tokens, so stop texts alone miss them); llama-cpp-python's default
            # repeat penalty would change greedy output.
            "stop_token_ids": sorted(stop_ids),
            "repeat_penalty": 1.0,
            "stream_options": {"include_usage": True},
        }
        model = self.model_name()
        if model:
            body["model"] = model
        return "/v1/completions", body

    def prompt_text(self, prompt: Sequence[int], tokenizer: Tokenizer) -> str:
        """Our token list as text: special ids as their text, the runs between them decoded.

        Exact when no decoded run contains special-token text itself (which the server would parse as a
        special token); `EngineError` otherwise, so nothing different from the embedded prompt is sent.
        """
        return qwen.render_tokens(
            prompt, self._special_texts(tokenizer), lambda run: _run_text(run, tokenizer)
        )

    def _special_texts(self, tokenizer: Tokenizer) -> dict[int, str]:
        if self._specials is None:
            specials = {tid: text for text, tid in qwen.SPECIAL_IDS.items()}
            specials.update({tid: text for text, tid in qwen.special_ids(tokenizer.special_id).items()})
            self._specials = specials
        return self._specials

    def parse_event(
        self,
        event: Mapping[str, Any],
        result: GenerationResult,
        stop_ids: AbstractSet[int],
        tokenizer: Tokenizer,
    ) -> Piece:
        usage = event.get("usage")
        if isinstance(usage, dict):
            n = usage.get("completion_tokens")
            if isinstance(n, int):
                result.n_generated = n
            details = usage.get("prompt_tokens_details") or {}
            cached = details.get("cached_tokens") if isinstance(details, dict) else None
            if isinstance(cached, int):
                result.n_reused = cached
                result.n_evaluated = max(0, result.n_prompt - cached)
        choices = event.get("choices") or []
        if not choices:
            return Piece()
        choice = choices[0]
        piece = Piece(text=str(choice.get("text") or ""))
        if piece.text and not isinstance(usage, dict):
            result.n_generated += 1
        reason = choice.get("finish_reason")
        if reason:
            result.stop_reason = "length" if reason == "length" else "stop"
        # Not `finished`: a usage event may follow the finish_reason before [DONE].
        return piece

    def tokenize(self, text: str, special: bool) -> list[int]:
        # These endpoints always parse special tokens: `special` cannot be honoured.
        if not special and any(s in text for s in qwen.SPECIAL_TEXTS):
            log.debug("remote tokenize: text contains special-token text; counts may differ")
        model = self.model_name()
        routes = [self._route] if self._route else ["/extras/tokenize", "/tokenize"]
        last: Exception | None = None
        for route in routes:
            assert route is not None
            body: dict[str, Any] = (
                {"input": text, "model": model}
                if route == "/extras/tokenize"
                else {"prompt": text, "model": model, "add_special_tokens": False}
            )
            try:
                r = self.client.guarded_request("POST", route, json=body)
            except SideFailure:
                raise
            except EngineError as exc:
                last = exc
                continue
            self._route = route
            tokens = [int(t) for t in r.json()["tokens"]]
            return self._strip_bos(route, model, tokens)
        raise EngineError(
            f"the server at {self.client.url} has no tokenize endpoint ({last})",
            "set engine.remote.tokenizerModel to the model's GGUF (a vocab-only copy is enough)",
        )

    def _strip_bos(self, route: str, model: str | None, tokens: list[int]) -> list[int]:
        if route != "/extras/tokenize":
            return tokens
        # llama-cpp-python adds the model's BOS (if any); learn it once from an empty probe.
        if self._bos is None:
            probe = self.client.guarded_request("POST", route, json={"input": "", "model": model})
            self._bos = [int(t) for t in probe.json()["tokens"]]
        if self._bos and tokens[: len(self._bos)] == self._bos:
            return tokens[len(self._bos) :]
        return tokens

    def token_bytes(self, token: int) -> bytes:
        model = self.model_name()
        try:
            r = self.client.guarded_request(
                "POST", "/extras/detokenize", json={"tokens": [token], "model": model}
            )
            return str(r.json().get("text", "")).encode("utf-8")
        except EngineError:
            r = self.client.guarded_request("POST", "/detokenize", json={"tokens": [token], "model": model})
            return str(r.json().get("prompt", "")).encode("utf-8")

    def server_info(self, probe: httpx.Response) -> ServerInfo:
        data = probe.json()
        models = [str(m.get("id")) for m in data.get("data", []) if isinstance(m, dict)]
        return ServerInfo(models=models, models_are_names=True)


def _run_text(run: Sequence[int], tokenizer: Tokenizer) -> str:
    """The text of a run of ordinary tokens; refuses a run the server would read differently."""
    known = tokenizer.text_of(run) if isinstance(tokenizer, RemoteTokenizer) else None
    try:
        decoded = known if known is not None else b"".join(tokenizer.token_to_bytes(t) for t in run).decode()
    except UnicodeDecodeError:
        raise EngineError(
            "the prompt splits a UTF-8 character between tokens and cannot be sent as text", _SEND_IDS
        ) from None
    if any(s in decoded for s in qwen.SPECIAL_TEXTS):
        raise EngineError(
            "the prompt contains special-token text that the server would parse as a special token", _SEND_IDS
        )
    return decoded
