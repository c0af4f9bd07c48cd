"""Cancelling a blocked read: a watchdog thread that shuts a streamed response's socket down when its
request is cancelled or its deadline passes, so neither waits for the server's next chunk."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx

from qwen_ls.engine.base import CancelToken

log = logging.getLogger(__name__)


def wait_cancel(cancel: CancelToken, timeout: float) -> bool:
    """Wait up to `timeout` for the token to be cancelled; True if it was."""
    event = getattr(cancel, "_event", None)
    if isinstance(event, threading.Event):
        return event.wait(max(0.0, timeout))
    time.sleep(max(0.0, min(timeout, 0.01)))
    return cancel.cancelled


class Watchdog:
    """Aborts a blocked read when its request is cancelled or its deadline passes.

    The worker thread is blocked inside a socket read while the server is prefilling or generating; a
    cancel must not wait for the next chunk. Shutting the socket down wakes the read at once (a plain
    close() from another thread does not on Linux) and makes the server see the disconnect.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._job: tuple[CancelToken, Callable[[], None]] | None = None
        #: when the watched read ends (None: only a cancel ends it); moved by `move_deadline`
        self._deadline: float | None = None
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
            self._job = (cancel, abort)
            self._deadline = deadline
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

    def move_deadline(self, deadline: float | None) -> None:
        """Move the deadline of the read being watched (no-op when none is)."""
        with self._cond:
            if self._job is not None:
                self._deadline = deadline

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job, generation = self._job, self._generation
            assert job is not None
            cancel, abort = job
            while True:
                deadline = self._deadline
                timeout = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
                cancelled = wait_cancel(cancel, timeout)
                with self._cond:
                    if self._generation != generation or self._closed:
                        break
                    deadline = self._deadline  # (the first token may have moved it meanwhile)
                    expired = deadline is not None and time.monotonic() >= deadline
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


def shutdown_response(response: httpx.Response) -> None:
    """Shut the response's socket down from any thread: a blocked read returns, the server sees EOF."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
