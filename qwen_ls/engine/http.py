"""Remote inference backends: the Engine protocol over HTTP, for teams that run a shared server.

Two wire formats:

- ``llama-server`` (llama.cpp): ``POST /completion`` with our token ids as the prompt, ``cache_prompt``,
  SSE streaming and ``return_tokens``, so stop ids are seen exactly as the embedded engine sees them;
- ``openai``: ``POST /v1/completions`` (vLLM, SGLang, llama-cpp-python's server, Ollama): our prompt as
  text with the special tokens written out (the server tokenizes with special parsing), the Qwen stop
  texts as ``stop`` and, for servers that take them, ``stop_token_ids``.

Either way the prompt, budgets, post-processing and stop rules are those of the embedded engine; only where
the model runs changes. Generation is greedy and penalty-free, as in the embedded engine.

Failure handling, in one place:

- one keep-alive ``httpx.Client`` (proxies from the environment, TLS verified, optional custom CA);
- a cancel closes the stream at once (between chunks by the worker, during a blocked read by a watchdog
  thread that shuts the socket down), so the server sees the disconnect and stops generating;
- bounded retries with backoff, only for connection errors before any output;
- a circuit breaker: after ``breaker_failures`` consecutive failures completions return empty at once and
  ``on_health_change(False, message)`` fires once; after a cooldown one request goes through as a probe and
  success fires ``on_health_change(True, message)``. The API key never appears in logs or messages.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import ssl
import statistics
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from qwen_ls import qwen
from qwen_ls.engine.base import (
    CancelToken,
    EngineError,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
    TextCallback,
    Tokenizer,
)

log = logging.getLogger(__name__)

RemoteKind = Literal["llama-server", "openai"]
HealthCallback = Callable[[bool, str], None]

#: Text probed by `check()` to compare the local and the server's tokenizer.
TOKENIZER_PROBE = "def héllo(x):\n    return x  # ß → λ\t{}\n"


@dataclass(frozen=True)
class RemoteSettings:
    """Settings of a remote inference server (the `engine` section when `kind` is not "embedded")."""

    #: "llama-server" (llama.cpp's /completion, token-id prompts) or "openai" (/v1/completions).
    kind: RemoteKind = "openai"
    #: Base URL of the server, without the /v1 part (http://host:8080).
    url: str = "http://127.0.0.1:8080"
    #: Model name sent to the server; "" asks the server (/v1/models) for its first model.
    model: str = ""
    #: Name of an environment variable that holds the API key (sent as a Bearer token).
    api_key_env: str = ""
    #: Path of a file that holds the API key (first line).
    api_key_file: str = ""
    #: Connect timeout, and the longest wait for the first byte and between streamed chunks.
    timeout_ms: int = 5000
    #: Retries of a request that failed to connect (never after output started).
    retries: int = 2
    #: First retry delay; doubles on each retry.
    retry_backoff_ms: int = 100
    #: PEM file of extra certificate authorities (TLS verification is always on).
    ca_bundle: str = ""
    #: Consecutive failures that open the circuit breaker (completions become empty at once).
    breaker_failures: int = 2
    #: Wait before the first probe of a server the breaker cut off; doubles up to breaker_max_cooldown_ms.
    breaker_cooldown_ms: int = 1000
    breaker_max_cooldown_ms: int = 30000
    #: Context size the prompt builder may fill; llama-server reports its own (used when smaller).
    n_ctx: int = 4096

    def validate(self) -> list[str]:
        problems = []
        if self.kind not in ("llama-server", "openai"):
            problems.append("kind must be llama-server or openai")
        if not self.url.startswith(("http://", "https://")):
            problems.append("url must start with http:// or https://")
        if self.timeout_ms < 50:
            problems.append("timeoutMs must be at least 50")
        if not 0 <= self.retries <= 10:
            problems.append("retries must be between 0 and 10")
        if self.breaker_failures < 1:
            problems.append("breakerFailures must be at least 1")
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
                    "check engine.apiKeyFile",
                ) from None
            if lines and lines[0].strip():
                return lines[0].strip()
        return None

    @property
    def timeout_s(self) -> float:
        return self.timeout_ms / 1000.0


class CircuitBreaker:
    """Closed (healthy) → open after `failures` consecutive failures → half-open after a cooldown (one
    probe goes through) → closed on success, open again (longer cooldown) on failure. Thread-safe."""

    def __init__(
        self,
        failures: int = 2,
        cooldown_s: float = 1.0,
        max_cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures_to_open = max(1, failures)
        self.base_cooldown_s = cooldown_s
        self.max_cooldown_s = max(cooldown_s, max_cooldown_s)
        self._clock = clock
        self._lock = threading.Lock()
        self.state: Literal["closed", "open", "half-open"] = "closed"
        self.consecutive_failures = 0
        self._cooldown_s = cooldown_s
        self._open_until = 0.0
        self._probe_in_flight = False

    @property
    def healthy(self) -> bool:
        return self.state == "closed"

    def allow(self) -> bool:
        """May a request go to the server now? In the open state only one probe after the cooldown."""
        with self._lock:
            if self.state == "closed":
                return True
            if self.state == "open" and self._clock() >= self._open_until:
                self.state = "half-open"
                self._probe_in_flight = False
            if self.state == "half-open" and not self._probe_in_flight:
                self._probe_in_flight = True
                return True
            return False

    def blocked(self) -> bool:
        """True while the breaker is open and cooling down (side requests such as tokenize fail fast)."""
        with self._lock:
            return self.state == "open" and self._clock() < self._open_until

    def record_success(self) -> bool:
        """Returns True when this success brought the server back (a transition to healthy)."""
        with self._lock:
            recovered = self.state != "closed"
            self.state = "closed"
            self.consecutive_failures = 0
            self._cooldown_s = self.base_cooldown_s
            self._probe_in_flight = False
            return recovered

    def record_failure(self) -> bool:
        """Returns True when this failure cut the server off (a transition to unhealthy)."""
        with self._lock:
            self.consecutive_failures += 1
            self._probe_in_flight = False
            now = self._clock()
            if self.state == "half-open" or (self.state == "open" and now >= self._open_until):
                # The probe (or a side request after the cooldown) failed: wait longer this time.
                self._cooldown_s = min(self._cooldown_s * 2, self.max_cooldown_s)
                self.state = "open"
                self._open_until = now + self._cooldown_s
                return False
            if self.state == "closed" and self.consecutive_failures >= self.failures_to_open:
                self.state = "open"
                self._open_until = self._clock() + self._cooldown_s
                return True
            return False

    def release_probe(self) -> None:
        """A probe ended without a verdict (cancelled before the server answered): let another go."""
        with self._lock:
            self._probe_in_flight = False


def _wait_cancel(cancel: CancelToken, timeout: float) -> bool:
    """Wait up to `timeout` for the token to be cancelled; True if it was."""
    event = getattr(cancel, "_event", None)
    if isinstance(event, threading.Event):
        return event.wait(max(0.0, timeout))
    time.sleep(max(0.0, min(timeout, 0.01)))
    return cancel.cancelled


class _Watchdog:
    """Aborts a blocked read when its request is cancelled or its deadline passes.

    The worker thread is blocked inside a socket read while the server is prefilling or generating; a
    cancel must not wait for the next chunk. Shutting the socket down wakes the read at once (a plain
    close() from another thread does not on Linux) and makes the server see the disconnect.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._job: tuple[CancelToken, float | None, Callable[[], None]] | None = None
        self._generation = 0
        self.fired = ""
        self._closed = False
        self._thread: threading.Thread | None = None

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="qwen-ls-http-watchdog", daemon=True)
            self._thread.start()

    @contextlib.contextmanager
    def watch(self, cancel: CancelToken, deadline: float | None, abort: Callable[[], None]) -> Iterator[None]:
        with self._cond:
            self._ensure_thread()
            self._generation += 1
            self._job = (cancel, deadline, abort)
            self.fired = ""
            self._cond.notify_all()
        try:
            yield
        finally:
            # Under the lock: once this returns, `abort` can no longer touch a connection that goes back
            # to the pool for the next request.
            with self._cond:
                self._job = None
                self._generation += 1

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job, generation = self._job, self._generation
            assert job is not None
            cancel, deadline, abort = job
            while True:
                timeout = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
                cancelled = _wait_cancel(cancel, timeout)
                expired = deadline is not None and time.monotonic() >= deadline
                with self._cond:
                    if self._generation != generation or self._closed:
                        break
                    if cancelled or expired:
                        self.fired = "cancelled" if cancelled else "deadline"
                        self._job = None
                        try:
                            abort()
                        except Exception:  # pragma: no cover - best effort
                            log.debug("aborting the stream failed", exc_info=True)
                        break

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _shutdown_response(response: httpx.Response) -> None:
    """Shut the response's socket down from any thread: a blocked read returns, the server sees EOF."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _SideFailure(EngineError):
    """A side request (tokenize, models) could not reach the server."""


class _Failure(Exception):
    """A request failed in a way that counts against the server's health."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


def _describe(exc: BaseException, settings: RemoteSettings) -> tuple[str, bool]:
    """A user-facing reason for a transport error, and whether retrying may help."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connecting timed out after {settings.timeout_ms} ms", True
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        if "refused" in text:
            return "connection refused", True
        if "certificate" in text or "ssl" in text:
            return f"TLS error ({exc})", False
        return f"cannot connect ({exc})", True
    if isinstance(exc, httpx.ReadTimeout):
        return f"no answer within {settings.timeout_ms} ms", False
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {settings.timeout_ms} ms", False
    if isinstance(exc, httpx.RemoteProtocolError):
        # A keep-alive connection the server closed while idle fails this way before any output.
        return "the server closed the connection", True
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)):
        return f"connection lost ({exc})", True
    if isinstance(exc, httpx.ProxyError):
        return f"proxy error ({exc})", False
    return f"{type(exc).__name__}: {exc}", False


def _http_error(status: int, body: str) -> str:
    detail = body.strip().replace("\n", " ")[:200]
    if status in (401, 403):
        return f"HTTP {status}: the API key was refused"
    if status == 404:
        return f"HTTP 404: endpoint or model not found ({detail})"
    return f"HTTP {status} ({detail})" if detail else f"HTTP {status}"


@dataclass
class RemoteCheck:
    """What `qwen-ls check` reports for a remote backend."""

    url: str
    kind: str
    ok: bool = False
    latency_ms: float | None = None
    models: list[str] = field(default_factory=list)
    model: str = ""
    n_ctx: int | None = None
    tokenizer: str = ""
    tokenizer_match: bool | None = None
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"server: {self.url} ({self.kind})"]
        if self.latency_ms is not None:
            out.append(f"latency: {self.latency_ms:.1f} ms (median of 3)")
        if self.models:
            out.append(f"models served: {', '.join(self.models)}")
        out.append(f"model: {self.model or '(server default)'}")
        if self.n_ctx:
            out.append(f"server context: {self.n_ctx} tokens")
        match = {True: "matches the server's", False: "DIFFERS from the server's", None: "not compared"}
        out.append(f"tokenizer: {self.tokenizer} ({match[self.tokenizer_match]})")
        out.extend(f"problem: {p}" for p in self.problems)
        return out


class RemoteTokenizer:
    """The server's tokenizer over HTTP, with a small cache; used when no local GGUF is configured.

    llama-server: /tokenize (no special parsing) and /detokenize. OpenAI-compatible servers:
    llama-cpp-python's /extras/tokenize or vLLM's /tokenize. Every call is a round trip, so budgets cost
    latency: a local vocab-only GGUF (`tokenizerModel`) is exact and free.
    """

    def __init__(self, engine: RemoteEngine, cache_size: int = 2048) -> None:
        self._engine = engine
        self._cache: OrderedDict[str, list[int]] = OrderedDict()
        self._pieces: dict[int, bytes] = {}
        self._special: dict[str, int | None] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._route: str | None = None
        self._bos: list[int] | None = None
        #: token lists this tokenizer produced, back to their text: a prompt assembled from them is
        #: turned back into text without a detokenize round trip per token
        self._texts: OrderedDict[tuple[int, ...], str] = OrderedDict()

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self._engine._guarded_request("POST", path, json=body)

    def _tokenize_remote(self, text: str, special: bool) -> list[int]:
        kind = self._engine.settings.kind
        if kind == "llama-server":
            r = self._post("/tokenize", {"content": text, "add_special": False, "parse_special": special})
            return [int(t) for t in r.json()["tokens"]]
        model = self._engine.model_name()
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
                r = self._post(route, body)
            except _SideFailure:
                raise
            except EngineError as exc:
                last = exc
                continue
            self._route = route
            tokens = [int(t) for t in r.json()["tokens"]]
            if route == "/extras/tokenize":
                # llama-cpp-python adds the model's BOS (if any); learn it once from an empty probe.
                if self._bos is None:
                    probe = self._post(route, {"input": "", "model": model}).json()["tokens"]
                    self._bos = [int(t) for t in probe]
                if self._bos and tokens[: len(self._bos)] == self._bos:
                    tokens = tokens[len(self._bos) :]
            return tokens
        raise EngineError(
            f"the server at {self._engine.settings.url} has no tokenize endpoint ({last})",
            "set engine.tokenizerModel to the model's GGUF (a vocab-only copy is enough)",
        )

    def tokenize(self, text: str) -> list[int]:
        if not text:
            return []
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return list(hit)
        if self._engine.settings.kind == "openai" and any(s in text for s in qwen.SPECIAL_TEXTS):
            # These endpoints parse special tokens; such text cannot be tokenized exactly remotely.
            log.debug("remote tokenize: text contains special-token text; counts may differ")
        tokens = self._tokenize_remote(text, special=False)
        with self._lock:
            self._cache[text] = tokens
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            self._texts[tuple(tokens)] = text
            if len(self._texts) > self._cache_size:
                self._texts.popitem(last=False)
        return list(tokens)

    def text_of(self, tokens: Sequence[int]) -> str | None:
        """The text a recent `tokenize` call turned into exactly these tokens, if any."""
        with self._lock:
            return self._texts.get(tuple(tokens))

    def token_to_bytes(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is not None:
            return piece
        kind = self._engine.settings.kind
        if kind == "llama-server":
            r = self._post("/detokenize", {"tokens": [token]})
            piece = str(r.json().get("content", "")).encode("utf-8")
        else:
            try:
                r = self._post("/extras/detokenize", {"tokens": [token], "model": self._engine.model_name()})
                piece = str(r.json().get("text", "")).encode("utf-8")
            except EngineError:
                r = self._post("/detokenize", {"tokens": [token], "model": self._engine.model_name()})
                piece = str(r.json().get("prompt", "")).encode("utf-8")
        if len(self._pieces) < 200_000:
            self._pieces[token] = piece
        return piece

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.token_to_bytes(t) for t in tokens).decode("utf-8", "replace")

    def special_id(self, text: str) -> int | None:
        if text in self._special:
            return self._special[text]
        found: int | None
        try:
            # llama-server is asked to parse specials; the OpenAI-side endpoints always do.
            ids = self._tokenize_remote(text, special=True)
            found = ids[0] if len(ids) == 1 else None
        except EngineError:
            found = qwen.SPECIAL_IDS.get(text)
        self._special[text] = found
        return found


class RemoteEngine:
    """The Engine protocol over HTTP. `generate` is called from one worker thread; `cancel` may be set
    from any thread. The tokenizer may be used from other threads (httpx's client is thread-safe)."""

    def __init__(
        self,
        settings: RemoteSettings,
        tokenizer: Tokenizer | None = None,
        *,
        on_health_change: HealthCallback | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        problems = settings.validate()
        if problems:
            raise EngineError(
                "invalid remote engine settings: " + "; ".join(problems), "fix engine.* settings"
            )
        self.settings = settings
        self.on_health_change = on_health_change
        self.health_message = ""
        self._local_tokenizer = tokenizer is not None
        self._tokenizer: Tokenizer = tokenizer if tokenizer is not None else RemoteTokenizer(self)
        self._breaker = CircuitBreaker(
            settings.breaker_failures,
            settings.breaker_cooldown_ms / 1000.0,
            settings.breaker_max_cooldown_ms / 1000.0,
        )
        self._watchdog = _Watchdog()
        self._model_name: str | None = settings.model or None
        self._n_ctx = settings.n_ctx
        self._stop_ids: frozenset[int] | None = None
        self._specials: dict[int, str] | None = None
        headers = {"Accept": "application/json"}
        key = settings.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        verify: ssl.SSLContext | bool = True
        if settings.ca_bundle:
            verify = ssl.create_default_context(cafile=str(Path(settings.ca_bundle).expanduser()))
        t = settings.timeout_s
        self._client = httpx.Client(
            base_url=settings.url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(t, connect=t, read=t, write=t, pool=t),
            verify=verify,
            trust_env=True,
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=4, keepalive_expiry=30.0),
            transport=transport,
        )
        self.stats = {"requests": 0, "errors": 0, "retries": 0, "cancelled": 0, "short_circuited": 0}

    # -- Engine protocol -------------------------------------------------------------------------------

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(
            path=self.settings.url,
            name=self._model_name or self.settings.model or "(server default)",
            backend=self.settings.kind,
        )

    @property
    def tokenizer(self) -> Tokenizer:
        return self._tokenizer

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    @property
    def healthy(self) -> bool:
        return self._breaker.healthy

    def close(self) -> None:
        self._watchdog.close()
        self._client.close()

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
        if not self._breaker.allow():
            self.stats["short_circuited"] += 1
            result.stop_reason = "error"
            return result
        self.stats["requests"] += 1
        try:
            path, body = self._build_body(request)
        except EngineError as exc:
            log.warning("remote completion not sent: %s", exc)
            self._breaker.release_probe()
            result.stop_reason = "error"
            return result
        attempt = 0
        while True:
            try:
                self._stream(path, body, request, cancel, on_text, result, t0)
                break
            except _Failure as failure:
                started = bool(result.text) or result.n_generated > 0
                if cancel.cancelled:
                    self._breaker.release_probe()
                    result.stop_reason = "cancelled"
                    break
                if failure.retryable and not started and attempt < self.settings.retries:
                    delay = self.settings.retry_backoff_ms / 1000.0 * (2**attempt)
                    attempt += 1
                    self.stats["retries"] += 1
                    log.debug(
                        "remote request failed (%s); retry %d in %.2fs", failure.message, attempt, delay
                    )
                    if request.deadline is not None and time.monotonic() + delay >= request.deadline:
                        self._fail(failure.message, result)
                        break
                    if _wait_cancel(cancel, delay):
                        self._breaker.release_probe()
                        result.stop_reason = "cancelled"
                        break
                    continue
                self._fail(failure.message, result)
                break
        if result.stop_reason == "cancelled":
            self.stats["cancelled"] += 1
        result.t_total = time.monotonic() - t0
        return result

    # -- internals ---------------------------------------------------------------------------------------

    def _fail(self, message: str, result: GenerationResult) -> None:
        self.stats["errors"] += 1
        result.stop_reason = "error"
        log.debug("remote completion failed: %s", message)
        if self._breaker.record_failure():
            text = (
                f"The inference server at {self.settings.url} is not answering: {message}. "
                "Completions are paused and resume by themselves when it answers again."
            )
            self._set_health(False, text)

    def _succeed(self) -> None:
        if self._breaker.record_success():
            self._set_health(True, f"The inference server at {self.settings.url} is answering again.")

    def _set_health(self, healthy: bool, message: str) -> None:
        self.health_message = "" if healthy else message
        (log.info if healthy else log.warning)("%s", message)
        callback = self.on_health_change
        if callback is not None:
            try:
                callback(healthy, message)
            except Exception:  # pragma: no cover - a broken listener must not break generation
                log.exception("health listener failed")

    def learn_n_ctx(self) -> None:
        """llama-server reports its context size (/props): never budget beyond it. Best effort: a server
        that is down now is asked again by `check()`, and budgets stay at the setting."""
        try:
            props = self._request("GET", "/props").json()
        except (EngineError, ValueError):
            return
        n_ctx = (
            (props.get("default_generation_settings") or {}).get("n_ctx") if isinstance(props, dict) else None
        )
        if isinstance(n_ctx, int) and 0 < n_ctx < self._n_ctx:
            self._n_ctx = n_ctx

    def model_name(self) -> str | None:
        """The model to name in requests: the setting, else the server's first model (asked once)."""
        if self._model_name is None and self.settings.kind == "openai" and not self._breaker.blocked():
            try:
                data = self._request("GET", "/v1/models", timeout=min(2.0, self.settings.timeout_s)).json()
                ids = [str(m["id"]) for m in data.get("data", []) if "id" in m]
                self._model_name = ids[0] if ids else ""
            except (EngineError, ValueError, KeyError, TypeError):
                return None
        return self._model_name or None

    def stop_ids(self) -> frozenset[int]:
        if self._stop_ids is None:
            ids = set()
            for text in qwen.STOP_TEXTS:
                try:
                    tid = self._tokenizer.special_id(text)
                except EngineError:
                    tid = qwen.SPECIAL_IDS.get(text)
                if tid is not None:
                    ids.add(tid)
            self._stop_ids = frozenset(ids)
        return self._stop_ids

    def prompt_text(self, prompt: Sequence[int]) -> str:
        """Our token list as text for an OpenAI-style server: special ids as their text, the rest decoded.

        Exact when no decoded run contains special-token text itself (which the server would parse as a
        special token); `EngineError` otherwise, so nothing different from the embedded prompt is sent.
        """
        specials = self._specials
        if specials is None:
            specials = {tid: text for text, tid in qwen.SPECIAL_IDS.items()}
            for text in qwen.SPECIAL_TEXTS:
                tid = self._tokenizer.special_id(text)
                if tid is not None:
                    specials[tid] = text
            self._specials = specials
        parts: list[str] = []
        run: list[int] = []
        text_of = getattr(self._tokenizer, "text_of", None)

        def flush() -> None:
            if not run:
                return
            known = text_of(run) if text_of is not None else None
            try:
                decoded = (
                    known
                    if known is not None
                    else b"".join(self._tokenizer.token_to_bytes(t) for t in run).decode("utf-8")
                )
            except UnicodeDecodeError:
                raise EngineError(
                    "the prompt splits a UTF-8 character between tokens and cannot be sent as text",
                    "use engine.kind = llama-server, which takes token ids",
                ) from None
            if any(s in decoded for s in qwen.SPECIAL_TEXTS):
                raise EngineError(
                    "the prompt contains special-token text that the server would parse as a special token",
                    "use engine.kind = llama-server, which takes token ids",
                )
            parts.append(decoded)
            run.clear()

        for tid in prompt:
            special = specials.get(tid)
            if special is not None:
                flush()
                parts.append(special)
            else:
                run.append(tid)
        flush()
        return "".join(parts)

    def _build_body(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        stop_ids = sorted(set(request.stop_ids) | self.stop_ids())
        if self.settings.kind == "llama-server":
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
        body: dict[str, Any] = {
            "prompt": self.prompt_text(request.prompt),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": 1.0,
            "stream": True,
            "stop": list(qwen.STOP_TEXTS),
            # Extensions that servers which do not know them ignore: vLLM/SGLang stop on ids (their
            # detokenizers hide special tokens, so stop texts alone miss them); llama-cpp-python's default
            # repeat penalty would change greedy output.
            "stop_token_ids": stop_ids,
            "repeat_penalty": 1.0,
            "stream_options": {"include_usage": True},
        }
        model = self.model_name()
        if model:
            body["model"] = model
        return "/v1/completions", body

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A short non-streaming request (tokenize, models, health); transport errors become EngineError."""
        try:
            r = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            message, _ = _describe(exc, self.settings)
            raise _SideFailure(
                f"the inference server at {self.settings.url} failed: {message}", "check engine.url"
            ) from None
        if r.status_code != 200:
            raise EngineError(
                f"the inference server at {self.settings.url} answered {_http_error(r.status_code, r.text)}",
                "check engine.url, engine.model and the API key",
            )
        return r

    def _guarded_request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A side request on the keystroke path (the server's tokenizer): fails at once while the breaker
        is open, and its transport failures count against the server's health like a generation's."""
        if self._breaker.blocked():
            raise EngineError(
                self.health_message or f"the inference server at {self.settings.url} is not answering",
                "completions resume by themselves when it answers again",
            )
        try:
            r = self._request(method, path, **kwargs)
        except _SideFailure as exc:
            self._fail(exc.message, GenerationResult())
            raise
        self._succeed()
        return r

    def _stream(
        self,
        path: str,
        body: dict[str, Any],
        request: GenerationRequest,
        cancel: CancelToken,
        on_text: TextCallback | None,
        result: GenerationResult,
        t0: float,
    ) -> None:
        """One streamed request; fills `result`. Raises _Failure for what counts against the server."""
        stop_ids = set(body.get("stop_token_ids", ())) | set(request.stop_ids) | set(self.stop_ids())
        text_parts: list[str] = []
        answered = False
        try:
            with (
                self._client.stream("POST", path, json=body) as response,
                self._watchdog.watch(cancel, request.deadline, lambda: _shutdown_response(response)),
            ):
                if response.status_code != 200:
                    detail = response.read().decode("utf-8", "replace")
                    status = response.status_code
                    raise _Failure(_http_error(status, detail), retryable=status in (502, 503))
                answered = True
                self._read_events(response, request, cancel, on_text, result, text_parts, stop_ids, t0)
        except _Failure:
            raise
        except httpx.HTTPError as exc:
            fired = self._watchdog.fired
            if cancel.cancelled or fired == "cancelled":
                result.stop_reason = "cancelled"
            elif fired == "deadline":
                result.stop_reason = "deadline"
            elif answered and isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
                # The server answered, then cut the stream (llama-cpp-python's server does this to a
                # stream when another request waits, unless run with --interrupt_requests false; or it
                # died mid-way). Keep what came, as a completion cut short; the next request tells
                # whether the server is still there.
                log.debug("the server cut the stream after %d pieces: %s", len(text_parts), exc)
                result.stop_reason = "length"
            else:
                message, retryable = _describe(exc, self.settings)
                raise _Failure(message, retryable=retryable) from None
        result.text = "".join(text_parts)
        if result.stop_reason in ("cancelled", "deadline") and result.n_generated == 0:
            # The server never answered: no verdict on its health.
            self._breaker.release_probe()
        else:
            self._succeed()

    def _read_events(
        self,
        response: httpx.Response,
        request: GenerationRequest,
        cancel: CancelToken,
        on_text: TextCallback | None,
        result: GenerationResult,
        text_parts: list[str],
        stop_ids: set[int],
        t0: float,
    ) -> None:
        llama_server = self.settings.kind == "llama-server"
        t_first = 0.0
        lines = response.iter_lines()
        for line in lines:
            if cancel.cancelled:
                result.stop_reason = "cancelled"
                break
            if request.deadline is not None and time.monotonic() >= request.deadline:
                result.stop_reason = "deadline"
                break
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                if not result.stop_reason:
                    # No finish_reason: the server ended the stream early (an interrupted request).
                    result.stop_reason = "length"
                self._drain(lines)
                break
            try:
                event = json.loads(data)
            except ValueError:
                raise _Failure(f"unreadable stream event {data[:80]!r}") from None
            if "error" in event:
                err = event["error"]
                message = err.get("message", err) if isinstance(err, dict) else err
                raise _Failure(f"the server reported an error: {message}")
            if llama_server:
                piece, finished, hit_stop = self._llama_server_event(event, result, stop_ids)
            else:
                piece, finished, hit_stop = self._openai_event(event, result)
            if piece:
                if not t_first:
                    t_first = time.monotonic() - t0
                    result.t_first_token = t_first
                    result.t_prefill = t_first
                text_parts.append(piece)
            full = "".join(text_parts)
            cut = min((i for s in qwen.STOP_TEXTS if (i := full.find(s)) >= 0), default=-1)
            if cut >= 0:
                text_parts[:] = [full[:cut]]
                result.stop_reason = "stop"
                break
            if hit_stop:
                result.stop_reason = "stop"
                break
            if piece and on_text is not None and not on_text(full):
                result.stop_reason = "callback"
                break
            if finished:
                self._drain(lines)
                break
            if result.n_generated > request.max_tokens + 8:
                # The server enforces max_tokens itself (and then sends its timings); this guards
                # against one that ignores it.
                result.stop_reason = "length"
                break
        else:
            if not result.stop_reason:
                result.stop_reason = "length" if result.n_generated >= request.max_tokens else "stop"
        # Leaving the caller's `with` block closes an unfinished response, and with it the connection: the
        # server sees the disconnect and stops generating.
        if t_first:
            result.t_generate = time.monotonic() - t0 - t_first
        if not result.stop_reason:
            result.stop_reason = "stop"

    @staticmethod
    def _drain(lines: Iterator[str]) -> None:
        """Read what is left of a finished stream (its terminating chunk), so the connection is reused."""
        for n, _ in enumerate(lines):
            if n > 64:
                break

    def _llama_server_event(
        self, event: dict[str, Any], result: GenerationResult, stop_ids: set[int]
    ) -> tuple[str, bool, bool]:
        piece = str(event.get("content", ""))
        tokens = [int(t) for t in event.get("tokens", []) or []]
        hit_stop = False
        for i, tok in enumerate(tokens):
            if tok in stop_ids:
                hit_stop = True
                if i < len(tokens) - 1:
                    # Tokens after the stop came in the same chunk: rebuild the text from the ids before it.
                    data = b"".join(self._tokenizer.token_to_bytes(t) for t in tokens[:i])
                    piece = data.decode("utf-8", "replace")
                tokens = tokens[:i]
                break
        result.tokens.extend(tokens)
        result.n_generated += len(tokens) if "tokens" in event else (1 if piece else 0)
        finished = bool(event.get("stop"))
        if finished:
            stop_type = event.get("stop_type", "")
            if stop_type == "limit":
                result.stop_reason = result.stop_reason or "length"
            elif not hit_stop:
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
            if isinstance(n_ctx, int) and 0 < n_ctx < self._n_ctx:
                self._n_ctx = n_ctx
        return piece, finished, hit_stop

    def _openai_event(self, event: dict[str, Any], result: GenerationResult) -> tuple[str, bool, bool]:
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
            return "", False, False
        choice = choices[0]
        piece = str(choice.get("text") or "")
        if piece and not isinstance(usage, dict):
            result.n_generated += 1
        reason = choice.get("finish_reason")
        if reason:
            result.stop_reason = "length" if reason == "length" else "stop"
        # Keep reading after finish_reason: a usage chunk may follow before [DONE].
        return piece, False, False

    # -- check -------------------------------------------------------------------------------------------

    def check(self, local_tokenizer: Tokenizer | None = None) -> RemoteCheck:
        """Latency to the server, the models it serves, and whether our tokenizer matches its own."""
        s = self.settings
        out = RemoteCheck(url=s.url, kind=s.kind)
        probe_path = "/health" if s.kind == "llama-server" else "/v1/models"
        latencies = []
        for _ in range(3):
            t = time.monotonic()
            try:
                r = self._request("GET", probe_path)
            except EngineError as exc:
                out.problems.append(exc.message)
                return out
            latencies.append((time.monotonic() - t) * 1000.0)
        out.latency_ms = statistics.median(latencies)
        try:
            if s.kind == "llama-server":
                props = self._request("GET", "/props").json()
                out.models = [str(props.get("model_path", ""))] if props.get("model_path") else []
                n_ctx = (props.get("default_generation_settings") or {}).get("n_ctx")
                if isinstance(n_ctx, int):
                    out.n_ctx = n_ctx
                    self._n_ctx = min(self._n_ctx, n_ctx)
            else:
                data = r.json()
                out.models = [str(m.get("id")) for m in data.get("data", []) if isinstance(m, dict)]
        except (EngineError, ValueError) as exc:
            out.problems.append(f"could not read the server's model information: {exc}")
        out.model = self.model_name() or ""
        if s.model and out.models and s.model not in out.models and s.kind == "openai":
            out.problems.append(f"the server does not list the model {s.model!r}")
        local = local_tokenizer or (self._tokenizer if self._local_tokenizer else None)
        out.tokenizer = "local GGUF" if local is not None else "the server's"
        if local is not None:
            try:
                remote = RemoteTokenizer(self)._tokenize_remote(TOKENIZER_PROBE, special=False)
                out.tokenizer_match = remote == local.tokenize(TOKENIZER_PROBE)
                if not out.tokenizer_match:
                    out.problems.append("the local tokenizer differs from the server's: budgets will be off")
            except (EngineError, ValueError, KeyError) as exc:
                out.problems.append(f"could not compare tokenizers: {exc}")
        out.ok = not out.problems
        return out


def create_remote_engine(
    settings: RemoteSettings,
    tokenizer_model: str | None,
    *,
    on_health_change: HealthCallback | None = None,
) -> RemoteEngine:
    """A remote engine; the tokenizer comes from a local GGUF (vocab-only load) when one is given."""
    tokenizer: Tokenizer | None = None
    if tokenizer_model:
        from qwen_ls.engine.llama import load_tokenizer

        tokenizer = load_tokenizer(tokenizer_model)
    engine = RemoteEngine(settings, tokenizer, on_health_change=on_health_change)
    # Best effort (a server that is down now is asked again later): the context size llama-server runs
    # with, and the model name an OpenAI-compatible server serves, for status and `check`.
    if settings.kind == "llama-server":
        engine.learn_n_ctx()
    else:
        engine.model_name()
    return engine


__all__ = [
    "CircuitBreaker",
    "RemoteCheck",
    "RemoteEngine",
    "RemoteSettings",
    "RemoteTokenizer",
    "create_remote_engine",
]
