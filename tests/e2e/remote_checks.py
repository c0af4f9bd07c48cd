"""Steps shared by the remote-engine end-to-end tests (against llama_cpp.server and a real llama-server)."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable

from qwen_ls.engine.base import CancelToken, GenerationRequest
from qwen_ls.engine.remote import RemoteEngine
from qwen_ls.engine.remote.local_server import ServerProcess


def cancel_on_first_text(cancel: CancelToken) -> Callable[[str], bool]:
    """An `on_text` callback: the first text it sees makes another thread cancel `cancel`, as the event
    loop does when the user types on while a completion streams."""
    first_text = threading.Event()

    def cancel_when_text_arrives() -> None:
        if first_text.wait(30):
            cancel.cancel()

    def on_text(text: str) -> bool:
        first_text.set()
        return True

    threading.Thread(target=cancel_when_text_arrives, daemon=True).start()
    return on_text


def fail_while_down(engine: RemoteEngine, request: GenerationRequest, n: int) -> list[float]:
    """`n` requests to a server that is down, as a user typing on: each must come back empty with an
    error. Returns how long each took."""
    times = []
    for _ in range(n):
        t = time.monotonic()
        result = engine.generate(request, CancelToken())
        times.append(time.monotonic() - t)
        assert (result.text, result.stop_reason) == ("", "error")
    return times


def text_comes_back(engine: RemoteEngine, request: GenerationRequest, seconds: float) -> str:
    """Retry `request` until it gives text (the server is back) or `seconds` pass; returns the text."""
    text = ""
    deadline = time.monotonic() + seconds
    while not text and time.monotonic() < deadline:
        text = engine.generate(request, CancelToken()).text
        if not text:
            time.sleep(0.1)
    return text


def killed_then_restarted(engine: RemoteEngine, request: GenerationRequest, srv: ServerProcess) -> str:
    """Kill the server (SIGKILL, as if it crashed) and start it again on the same port: while it is down
    every request comes back empty at once (the breaker short-circuits, no waiting on the network) and
    the user is told once; after the restart completions come back and the user is told so. Returns the
    message the user was given."""
    changes: list[tuple[bool, str]] = []
    engine.on_health_change = lambda ok, msg: changes.append((ok, msg))
    t = time.monotonic()
    assert engine.generate(request, CancelToken()).text
    t_ok = time.monotonic() - t
    srv.stop()
    times = fail_while_down(engine, request, 20)  # a user typing on while the server is down
    assert [ok for ok, _ in changes] == [False], changes
    assert srv.url in changes[0][1]
    assert statistics.median(times) < t_ok  # short-circuited: faster than one real completion
    srv.start()  # the same port: a restart
    text = text_comes_back(engine, request, 10)
    assert text, "completions did not come back after the server restarted"
    assert [ok for ok, _ in changes] == [False, True]
    return changes[0][1]
