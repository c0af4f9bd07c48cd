"""The Engine protocol over HTTP: a prompt of our token ids, generated on a shared inference server.

The prompt, budgets, post-processing and stop rules are those of the embedded engine; only where the model
runs changes. Generation is greedy and penalty-free, as in the embedded engine. Bounded retries with
backoff, only for connection errors before any output; everything that counts against the server's health
goes through the client's circuit breaker.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from qwen_ls import qwen
from qwen_ls.engine.base import (
    CancelToken,
    Capabilities,
    EngineError,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
    TextCallback,
    Tokenizer,
)
from qwen_ls.engine.remote.check import RemoteCheck, run_check
from qwen_ls.engine.remote.client import Failure, HealthCallback, RemoteClient, describe
from qwen_ls.engine.remote.formats import wire_format
from qwen_ls.engine.remote.settings import ClientPolicy, RemoteKind, RemoteSettings
from qwen_ls.engine.remote.stream import StreamRead
from qwen_ls.engine.remote.tokenizer import RemoteTokenizer
from qwen_ls.engine.remote.watchdog import wait_cancel

log = logging.getLogger(__name__)


class RemoteEngine:
    """The Engine protocol over HTTP. `generate` is called from one worker thread; `cancel` may be set
    from any thread. The tokenizer may be used from other threads (httpx's client is thread-safe)."""

    #: no per-token progress: a streamed chunk is the unit the pipeline counts
    capabilities: Capabilities = Capabilities()
    live: GenerationResult | None = None

    def __init__(
        self,
        settings: RemoteSettings,
        tokenizer: Tokenizer | None = None,
        *,
        kind: RemoteKind = "openai",
        n_ctx: int = 4096,
        policy: ClientPolicy | None = None,
        on_health_change: HealthCallback | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        policy = policy or ClientPolicy()
        problems = settings.connect_problems(kind) + policy.validate()
        if problems:
            raise EngineError(
                "invalid remote engine settings: " + "; ".join(problems), "fix the engine.remote settings"
            )
        self.settings = settings
        self.kind: RemoteKind = kind
        self.policy = policy
        self.client = RemoteClient(settings, policy, on_health_change=on_health_change, transport=transport)
        self.wire = wire_format(kind, self.client)
        self.client.add_headers(self.wire.headers(settings.api_key()))
        self.local_tokenizer = tokenizer
        self._tokenizer: Tokenizer = tokenizer if tokenizer is not None else RemoteTokenizer(self.wire)
        self._n_ctx = n_ctx
        self._stop_ids: frozenset[int] | None = None

    # -- Engine protocol -------------------------------------------------------------------------------

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(
            path=self.settings.url,
            name=self.wire.model_name(ask=False) or "(server default)",
            backend=self.kind,
        )

    @property
    def tokenizer(self) -> Tokenizer:
        return self._tokenizer

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    @property
    def healthy(self) -> bool:
        return self.client.breaker.healthy

    @property
    def health_message(self) -> str:
        return self.client.health_message

    @property
    def stats(self) -> dict[str, int]:
        return self.client.stats

    @property
    def on_health_change(self) -> HealthCallback | None:
        return self.client.on_health_change

    @on_health_change.setter
    def on_health_change(self, callback: HealthCallback | None) -> None:
        self.client.on_health_change = callback

    def close(self) -> None:
        self.client.close()

    def generate(
        self,
        request: GenerationRequest,
        cancel: CancelToken,
        on_text: TextCallback | None = None,
    ) -> GenerationResult:
        t0 = time.monotonic()
        result = GenerationResult(n_prompt=len(request.prompt))
        if not request.prompt:
            result.stop_reason = "empty-prompt"
            return result
        if len(request.prompt) >= self._n_ctx:
            # As the embedded engine does: the prompt builder must budget within n_ctx.
            raise EngineError(
                f"prompt of {len(request.prompt)} tokens does not fit the context of {self._n_ctx}",
                "raise engine.nCtx (and the server's context) or lower completion.maxPromptTokens",
            )
        if cancel.cancelled:
            result.stop_reason = "cancelled"
            return result
        if not self.client.breaker.allow():
            self.stats["short_circuited"] += 1
            result.stop_reason = "error"
            return result
        self.stats["requests"] += 1
        stop_ids = set(request.stop_ids) | self.stop_ids()
        try:
            path, body = self.wire.build_body(request, sorted(stop_ids), self._tokenizer)
        except EngineError as exc:
            log.warning("remote completion not sent: %s", exc)
            self.client.breaker.release_probe()
            result.stop_reason = "error"
            return result
        read = StreamRead(self.wire, self._tokenizer, request, cancel, on_text, result, stop_ids, t0)
        read.on_deadline = self.client.move_deadline
        self._with_retries(read, path, body)
        if result.stop_reason == "cancelled":
            self.stats["cancelled"] += 1
        result.t_total = time.monotonic() - t0
        return result

    # -- internals ---------------------------------------------------------------------------------------

    def _with_retries(self, read: StreamRead, path: str, body: dict[str, Any]) -> None:
        """Send until the stream is read, or until a failure that retrying cannot help."""
        result, cancel, deadline = read.result, read.cancel, read.request.deadline
        attempt = 0
        while True:
            try:
                self._stream(read, path, body)
                return
            except Failure as failure:
                if cancel.cancelled:
                    self.client.breaker.release_probe()
                    result.stop_reason = "cancelled"
                    return
                started = bool(result.text) or result.n_generated > 0
                if not failure.retryable or started or attempt >= self.settings.retries:
                    self._fail(failure.message, result)
                    return
                delay = self.policy.retry_backoff_ms / 1000.0 * (2**attempt)
                attempt += 1
                self.stats["retries"] += 1
                log.debug("remote request failed (%s); retry %d in %.2fs", failure.message, attempt, delay)
                if deadline is not None and time.monotonic() + delay >= deadline:
                    self._fail(failure.message, result)
                    return
                if wait_cancel(cancel, delay):
                    self.client.breaker.release_probe()
                    result.stop_reason = "cancelled"
                    return

    def _stream(self, read: StreamRead, path: str, body: dict[str, Any]) -> None:
        """One streamed request; fills `read.result`. Raises Failure for what counts against the server."""
        result, cancel = read.result, read.cancel
        read.parts.clear()  # a retry starts from nothing (retries happen only before any output)
        answered = False
        try:
            with self.client.stream(path, body, cancel, read.deadline) as events:
                answered = True
                read.read(events)
        except Failure:
            raise
        except httpx.HTTPError as exc:
            fired = self.client.watchdog_fired
            if cancel.cancelled or fired == "cancelled":
                result.stop_reason = "cancelled"
            elif fired == "deadline":
                result.stop_reason = "deadline"
            elif answered and isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
                # The server answered, then cut the stream (llama-cpp-python's server does this to a
                # stream when another request waits, unless run with --interrupt_requests false; or it
                # died mid-way). Keep what came, as a completion cut short; the next request tells
                # whether the server is still there.
                log.debug("the server cut the stream after %d pieces: %s", len(read.parts), exc)
                result.stop_reason = "length"
            else:
                message, retryable = describe(exc, self.settings.timeout_ms)
                raise Failure(message, retryable=retryable) from None
        finally:
            self._learn_n_ctx(read.n_ctx)
        result.text = read.text
        if result.stop_reason in ("cancelled", "deadline") and result.n_generated == 0:
            # The server never answered: no verdict on its health.
            self.client.breaker.release_probe()
        else:
            self.client.succeed()

    def _fail(self, message: str, result: GenerationResult) -> None:
        result.stop_reason = "error"
        self.client.fail(message)

    def _learn_n_ctx(self, n_ctx: int | None) -> None:
        """Never budget beyond the context the server runs with."""
        if n_ctx is not None and 0 < n_ctx < self._n_ctx:
            self._n_ctx = n_ctx

    def connect(self) -> None:
        """Best effort (a server that is down now is asked again later): what the wire format needs to
        know up front, and the server's context size where it reports one."""
        self._learn_n_ctx(self.wire.connect())

    def model_name(self) -> str | None:
        return self.wire.model_name()

    def stop_ids(self) -> frozenset[int]:
        if self._stop_ids is None:
            self._stop_ids = qwen.stop_ids(self._special_id, fallback=True)
        return self._stop_ids

    def _special_id(self, text: str) -> int | None:
        """The server's id for a special-token text; None (then the released id) when it cannot say."""
        try:
            return self._tokenizer.special_id(text)
        except EngineError:
            return None

    def check(self, local_tokenizer: Tokenizer | None = None) -> RemoteCheck:
        """Latency to the server, the models it serves, and whether our tokenizer matches its own."""
        report = run_check(self, local_tokenizer)
        self._learn_n_ctx(report.n_ctx)
        return report
