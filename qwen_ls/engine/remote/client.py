"""The HTTP client of the remote engine: one keep-alive connection pool, the circuit breaker, health
messages, side requests, and streamed requests with a watchdog that aborts a blocked read.

Nothing here knows a wire format: paths, bodies and events come from `qwen_ls.engine.remote.wire`.

- one keep-alive ``httpx.Client`` (proxies from the environment, TLS verified, optional custom CA);
- a cancel closes the stream at once (between events by the worker, during a blocked read by the
  watchdog thread that shuts the socket down), so the server sees the disconnect and stops generating;
- a circuit breaker: after ``breaker_failures`` consecutive failures completions return empty at once and
  ``on_health_change(False, message)`` fires once; after a cooldown one request goes through as a probe and
  success fires ``on_health_change(True, message)``. The API key never appears in logs or messages.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent, SSEError

from qwen_ls.engine.base import CancelToken, EngineError
from qwen_ls.engine.remote.breaker import CircuitBreaker
from qwen_ls.engine.remote.settings import ClientPolicy, RemoteSettings
from qwen_ls.engine.remote.watchdog import Watchdog, shutdown_response

log = logging.getLogger(__name__)

#: Called with (healthy, message) when the server stops or starts answering.
HealthCallback = Callable[[bool, str], None]


class Failure(Exception):
    """A request failed in a way that counts against the server's health."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class SideFailure(EngineError):
    """A side request (tokenize, models) could not reach the server."""


def describe(exc: BaseException, timeout_ms: int) -> tuple[str, bool]:
    """A user-facing reason for a transport error, and whether retrying may help."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connecting timed out after {timeout_ms} ms", True
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        if "refused" in text:
            return "connection refused", True
        if "certificate" in text or "ssl" in text:
            return f"TLS error ({exc})", False
        return f"cannot connect ({exc})", True
    if isinstance(exc, httpx.ReadTimeout):
        return f"no answer within {timeout_ms} ms", False
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout_ms} ms", False
    if isinstance(exc, SSEError):
        return f"the server did not answer with an event stream ({exc})", False
    if isinstance(exc, httpx.RemoteProtocolError):
        # A keep-alive connection the server closed while idle fails this way before any output.
        return "the server closed the connection", True
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)):
        return f"connection lost ({exc})", True
    if isinstance(exc, httpx.ProxyError):
        return f"proxy error ({exc})", False
    return f"{type(exc).__name__}: {exc}", False


def http_error(status: int, body: str) -> str:
    detail = body.strip().replace("\n", " ")[:200]
    if status in (401, 403):
        return f"HTTP {status}: the API key was refused"
    if status == 404:
        return f"HTTP 404: endpoint or model not found ({detail})"
    return f"HTTP {status} ({detail})" if detail else f"HTTP {status}"


class RemoteClient:
    """HTTP to one inference server, with its health. Thread-safe (httpx's client is); one stream at a
    time (the engine's worker thread)."""

    def __init__(
        self,
        settings: RemoteSettings,
        policy: ClientPolicy,
        *,
        on_health_change: HealthCallback | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.on_health_change = on_health_change
        self.health_message = ""
        self.stats = {"requests": 0, "errors": 0, "retries": 0, "cancelled": 0, "short_circuited": 0}
        self.breaker = CircuitBreaker(
            policy.breaker_failures,
            policy.breaker_cooldown_ms / 1000.0,
            policy.breaker_max_cooldown_ms / 1000.0,
        )
        self._watchdog = Watchdog()
        verify: ssl.SSLContext | bool = True
        if settings.ca_bundle:
            verify = ssl.create_default_context(cafile=str(Path(settings.ca_bundle).expanduser()))
        t = settings.timeout_s
        self._http = httpx.Client(
            base_url=settings.url.rstrip("/"),
            headers={"Accept": "application/json"},
            timeout=httpx.Timeout(t, connect=t, read=t, write=t, pool=t),
            verify=verify,
            trust_env=True,
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=4, keepalive_expiry=30.0),
            transport=transport,
        )

    @property
    def url(self) -> str:
        return self.settings.url

    def add_headers(self, headers: dict[str, str]) -> None:
        """Headers for every request from now on (the wire format's authentication)."""
        self._http.headers.update(headers)

    def close(self) -> None:
        self._watchdog.close()
        self._http.close()

    # -- requests ----------------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A short non-streaming request (tokenize, models, health); failures become EngineError."""
        try:
            try:
                r = self._http.request(method, path, **kwargs)
            except httpx.RemoteProtocolError:
                # A kept-alive connection the server closed just as we reused it (llama-server and uvicorn
                # close idle ones after 5 s): once more, on a new connection. These requests are idempotent.
                r = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            message, _ = describe(exc, self.settings.timeout_ms)
            raise SideFailure(
                f"the inference server at {self.url} failed: {message}", "check engine.remote.url"
            ) from None
        if r.status_code != 200:
            raise EngineError(
                f"the inference server at {self.url} answered {http_error(r.status_code, r.text)}",
                "check engine.remote.url, engine.remote.model and the API key",
            )
        return r

    def guarded_request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A side request on the keystroke path (the server's tokenizer): fails at once while the breaker
        is open, and its transport failures count against the server's health like a generation's."""
        if self.breaker.blocked():
            raise EngineError(
                self.health_message or f"the inference server at {self.url} is not answering",
                "completions resume by themselves when it answers again",
            )
        try:
            r = self.request(method, path, **kwargs)
        except SideFailure as exc:
            self.fail(exc.message)
            raise
        self.succeed()
        return r

    @contextlib.contextmanager
    def stream(
        self, path: str, body: dict[str, Any], cancel: CancelToken, deadline: float | None
    ) -> Iterator[Iterator[ServerSentEvent]]:
        """POST `body` and yield its server-sent events. A status other than 200 raises `Failure`;
        leaving the block early closes the connection, so the server sees the disconnect."""
        with (
            self._http.stream("POST", path, json=body) as response,
            self._watchdog.watch(cancel, deadline, lambda: shutdown_response(response)),
        ):
            if response.status_code != 200:
                detail = response.read().decode("utf-8", "replace")
                status = response.status_code
                raise Failure(http_error(status, detail), retryable=status in (502, 503))
            yield EventSource(response).iter_sse()

    def move_deadline(self, deadline: float | None) -> None:
        """The stream in flight ends at `deadline` now (the first token gave generation its time)."""
        self._watchdog.move_deadline(deadline)

    @property
    def watchdog_fired(self) -> str:
        """Why the watchdog aborted the last stream ("cancelled" or "deadline"); "" if it did not."""
        return self._watchdog.fired

    # -- health ------------------------------------------------------------------------------------------

    def fail(self, message: str) -> None:
        self.stats["errors"] += 1
        log.debug("remote request failed: %s", message)
        if self.breaker.record_failure():
            text = (
                f"The inference server at {self.url} is not answering: {message}. "
                "Completions are paused and resume by themselves when it answers again."
            )
            self._set_health(False, text)

    def succeed(self) -> None:
        if self.breaker.record_success():
            self._set_health(True, f"The inference server at {self.url} is answering again.")

    def _set_health(self, healthy: bool, message: str) -> None:
        self.health_message = "" if healthy else message
        (log.info if healthy else log.warning)("%s", message)
        callback = self.on_health_change
        if callback is not None:
            try:
                callback(healthy, message)
            except Exception:  # pragma: no cover - a broken listener must not break generation
                log.exception("health listener failed")
