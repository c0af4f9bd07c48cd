"""The remote engine against small in-process HTTP servers: wire format, streaming, stops, cancellation
of a blocked read, timeouts, retries, the circuit breaker and secrecy of the API key."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
import time
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from qwen_ls import qwen
from qwen_ls.engine.base import CancelToken, EngineError, GenerationRequest, Tokenizer
from qwen_ls.engine.remote import CircuitBreaker, ClientPolicy, RemoteEngine, RemoteKind, RemoteSettings
from qwen_ls.settings_util import from_mapping


class ByteTokenizer:
    """One token per byte; Qwen special ids map to their texts."""

    def tokenize(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def token_to_bytes(self, token: int) -> bytes:
        for text, tid in qwen.SPECIAL_IDS.items():
            if tid == token:
                return text.encode()
        return bytes([token])

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.token_to_bytes(t) for t in tokens).decode("utf-8", "replace")

    def special_id(self, text: str) -> int | None:
        return qwen.SPECIAL_IDS.get(text)


def fim(prefix: str, suffix: str) -> list[int]:
    tok = ByteTokenizer()
    ids = qwen.SPECIAL_IDS
    head = [ids[qwen.FIM_PREFIX], *tok.tokenize(prefix)]
    return [*head, ids[qwen.FIM_SUFFIX], *tok.tokenize(suffix), ids[qwen.FIM_MIDDLE]]


@dataclass
class Seen:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    disconnected: threading.Event = field(default_factory=threading.Event)


#: A script gets the request and returns (status, events, delay_between_events, stall_after_events).
Script = Callable[[Seen], tuple[int, Any, float, float]]


class FakeServer:
    """HTTP/1.1 keep-alive server streaming SSE events chosen by a script; records what it received."""

    def __init__(self, script: Script, port: int = 0) -> None:
        self.script = script
        self.seen: list[Seen] = []
        self.connections = 0
        self.content_type = "text/event-stream; charset=utf-8"
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                outer.connections += 1

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                seen = Seen(self.path, json.loads(raw) if raw else {}, dict(self.headers.items()))
                outer.seen.append(seen)
                status, events, delay, stall = outer.script(seen)
                if status == 0:  # drop the connection without an answer
                    self.close_connection = True
                    return
                if status != 200 or not isinstance(events, list):
                    body = json.dumps(events).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if not seen.body.get("stream"):
                    body = json.dumps(events[0] if events else {}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", outer.content_type)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for event in events:
                        if isinstance(event, bytes):  # raw event-stream bytes, sent as they are
                            self._chunk(event)
                        else:
                            data = event if isinstance(event, str) else json.dumps(event)
                            self._chunk(f"data: {data}\n\n".encode())
                        time.sleep(delay)
                    if stall:
                        # Like a server busy generating: notice the client going away.
                        self.connection.settimeout(stall)
                        try:
                            if self.connection.recv(1) == b"":
                                seen.disconnected.set()
                        except TimeoutError:
                            pass
                        self.close_connection = True
                        return
                    self._chunk(b"")
                except (BrokenPipeError, ConnectionResetError):
                    seen.disconnected.set()

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            do_POST = _handle
            do_GET = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def openai_chunks(pieces: list[str], finish: str = "length") -> list[Any]:
    events: list[Any] = [{"choices": [{"text": p, "index": 0, "finish_reason": None}]} for p in pieces]
    events.append({"choices": [{"text": "", "index": 0, "finish_reason": finish}]})
    events.append("[DONE]")
    return events


def llama_chunks(pieces: list[str]) -> list[Any]:
    """llama-server's /completion stream of `pieces` (one token per byte), then its final event."""
    events: list[Any] = [{"content": p, "tokens": list(p.encode()), "stop": False} for p in pieces]
    events.append({"content": "", "stop": True, "stop_type": "limit"})
    return events


@pytest.fixture
def servers() -> Iterator[list[FakeServer]]:
    made: list[FakeServer] = []
    yield made
    for s in made:
        s.close()


def serve(servers: list[FakeServer], script: Script, port: int = 0) -> FakeServer:
    server = FakeServer(script, port)
    servers.append(server)
    return server


POLICY_FIELDS = {f.name for f in dataclasses.fields(ClientPolicy)}


def make_engine(
    tokenizer: Tokenizer | None, *, kind: RemoteKind = "openai", on_health_change: Any = None, **kw: Any
) -> RemoteEngine:
    """`kw`: RemoteSettings and ClientPolicy fields, mixed."""
    policy = ClientPolicy(**{"retry_backoff_ms": 10, **{k: v for k, v in kw.items() if k in POLICY_FIELDS}})
    settings = RemoteSettings(**{k: v for k, v in kw.items() if k not in POLICY_FIELDS})
    return RemoteEngine(settings, tokenizer, kind=kind, policy=policy, on_health_change=on_health_change)


def engine_for(url: str, **kw: Any) -> RemoteEngine:
    return make_engine(ByteTokenizer(), **{"url": url, "model": "m", "timeout_ms": 2000, **kw})


def test_openai_request_and_stream(servers: list[FakeServer], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QWEN_TEST_KEY", "sk-secret-123")
    server = serve(servers, lambda seen: (200, openai_chunks(["ret", "urn x"]), 0.0, 0.0))
    engine = engine_for(server.url, api_key_env="QWEN_TEST_KEY")
    prompt = fim("def f(x):\n    ", "\n")
    result = engine.generate(GenerationRequest(prompt, max_tokens=16), CancelToken())
    assert result.text == "return x"
    assert result.stop_reason == "length"
    assert result.n_prompt == len(prompt) and result.n_generated == 2
    assert result.t_first_token > 0
    seen = server.seen[-1]
    assert seen.path == "/v1/completions"
    assert seen.body["prompt"] == "<|fim_prefix|>def f(x):\n    <|fim_suffix|>\n<|fim_middle|>"
    assert seen.body["stream"] is True and seen.body["temperature"] == 0.0
    assert seen.body["max_tokens"] == 16 and seen.body["model"] == "m"
    assert set(seen.body["stop"]) == set(qwen.STOP_TEXTS)
    assert qwen.SPECIAL_IDS[qwen.FIM_MIDDLE] in seen.body["stop_token_ids"]
    assert seen.headers["Authorization"] == "Bearer sk-secret-123"
    # keep-alive: a second request reuses the connection
    engine.generate(GenerationRequest(prompt, max_tokens=16), CancelToken())
    assert server.connections == 1
    engine.close()


def test_openai_stop_text_in_stream_is_cut(servers: list[FakeServer]) -> None:
    server = serve(
        servers, lambda seen: (200, openai_chunks(["a = 1", "<|file_sep|>junk", "more"]), 0.0, 0.0)
    )
    engine = engine_for(server.url)
    result = engine.generate(GenerationRequest(fim("x", ""), max_tokens=16), CancelToken())
    assert result.text == "a = 1"
    assert result.stop_reason == "stop"
    engine.close()


def test_event_stream_parsed_by_the_spec(servers: list[FakeServer]) -> None:
    # Comments, event names, CRLF line ends, one event's data split over two lines and over two chunks.
    first = json.dumps({"choices": [{"text": "ab", "index": 0, "finish_reason": None}]})
    head, tail = first[:20], first[20:]
    events: list[Any] = [
        b": keep-alive\r\n\r\n",
        f"event: completion\r\ndata: {head}".encode(),
        f"\r\ndata: {tail}\r\n\r\n".encode(),
        *openai_chunks(["c"], finish="stop"),
    ]
    server = serve(servers, lambda seen: (200, events, 0.0, 0.0))
    engine = engine_for(server.url)
    result = engine.generate(GenerationRequest(fim("x", ""), max_tokens=16), CancelToken())
    # the two data lines are one event joined by a newline, which JSON reads as whitespace
    assert (result.text, result.stop_reason) == ("abc", "stop")
    engine.close()


def test_a_stream_that_is_not_an_event_stream_is_a_failure(servers: list[FakeServer]) -> None:
    server = serve(servers, lambda seen: (200, openai_chunks(["x"]), 0.0, 0.0))
    server.content_type = "application/json"
    changes: list[tuple[bool, str]] = []
    engine = engine_for(server.url, breaker_failures=1)
    engine.on_health_change = lambda ok, msg: changes.append((ok, msg))
    result = engine.generate(GenerationRequest(fim("x", ""), max_tokens=16), CancelToken())
    assert (result.text, result.stop_reason) == ("", "error")
    assert changes and "did not answer with an event stream" in changes[0][1]
    engine.close()


def test_callback_ends_generation(servers: list[FakeServer]) -> None:
    server = serve(servers, lambda seen: (200, openai_chunks(["one\n", "two\n", "three\n"]), 0.0, 0.0))
    engine = engine_for(server.url)
    result = engine.generate(
        GenerationRequest(fim("x", ""), max_tokens=16), CancelToken(), on_text=lambda text: "\n" not in text
    )
    assert result.text == "one\n" and result.stop_reason == "callback"
    engine.close()


def test_llama_server_request_stop_id_and_timings(servers: list[FakeServer]) -> None:
    stop = qwen.SPECIAL_IDS[qwen.FIM_SUFFIX]  # not in llama.cpp's end-of-generation set: we stop on it
    events = [
        {"content": "ab", "tokens": [97, 98], "stop": False},
        {"content": "c", "tokens": [99, stop, 100], "stop": False},
        {"content": "zzz", "tokens": [122, 122, 122], "stop": False},
    ]
    server = serve(servers, lambda seen: (200, events, 0.0, 5.0))
    engine = engine_for(server.url, kind="llama-server")
    prompt = fim("p", "s")
    result = engine.generate(GenerationRequest(prompt, max_tokens=16), CancelToken())
    assert (result.text, result.stop_reason, result.tokens) == ("abc", "stop", [97, 98, 99])
    body = server.seen[-1].body
    assert server.seen[-1].path == "/completion"
    assert body["prompt"] == prompt
    assert body["cache_prompt"] is True and body["stream"] is True and body["return_tokens"] is True
    assert body["n_predict"] == 16
    # we closed the stream on the stop id: the server sees the disconnect
    assert server.seen[-1].disconnected.wait(3)

    final = {"content": "", "stop": True, "stop_type": "limit", "timings": {"prompt_n": 3, "predicted_n": 1}}
    server.script = lambda seen: (200, [{"content": "x", "tokens": [120], "stop": False}, final], 0.0, 0.0)
    result = engine.generate(GenerationRequest(prompt, max_tokens=1), CancelToken())
    assert (result.text, result.stop_reason) == ("x", "length")
    assert (result.n_evaluated, result.n_reused) == (3, len(prompt) - 3)
    engine.close()


def test_cancel_from_another_thread_aborts_a_blocked_read(servers: list[FakeServer]) -> None:
    # One chunk, then the server "generates" silently for 20 s.
    server = serve(servers, lambda seen: (200, openai_chunks(["par"])[:1], 0.0, 20.0))
    engine = engine_for(server.url, timeout_ms=30000)
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    t = time.monotonic()
    result = engine.generate(GenerationRequest(fim("x", ""), max_tokens=64), cancel)
    assert time.monotonic() - t < 5
    assert result.stop_reason == "cancelled"
    assert server.seen[-1].disconnected.wait(3), "the server did not see the client go away"
    assert engine.healthy
    # the engine is still usable on a fresh connection
    server.script = lambda seen: (200, openai_chunks(["ok"]), 0.0, 0.0)
    assert engine.generate(GenerationRequest(fim("x", ""), max_tokens=4), CancelToken()).text == "ok"
    engine.close()


def test_deadline_ends_a_stalled_stream_without_marking_the_server_unhealthy(
    servers: list[FakeServer],
) -> None:
    server = serve(servers, lambda seen: (200, openai_chunks(["a"])[:1], 0.0, 20.0))
    engine = engine_for(server.url, timeout_ms=30000, breaker_failures=1)
    request = GenerationRequest(fim("x", ""), max_tokens=8, deadline=time.monotonic() + 2.0)
    result = engine.generate(request, CancelToken())
    assert result.stop_reason == "deadline" and result.text == "a"
    assert engine.healthy
    engine.close()


@pytest.mark.parametrize("kind", ["openai", "llama-server"])
def test_the_deadline_waits_for_the_first_token_then_gives_generation_its_time(
    servers: list[FakeServer], kind: RemoteKind
) -> None:
    # The server evaluates the prompt for 0.4 s (an SSE comment, then nothing), then streams a piece
    # every 0.4 s. The deadline passes during the prompt's evaluation; generate_s is 1 s.
    pieces = [f"p{i} " for i in range(12)]
    events = openai_chunks(pieces) if kind == "openai" else llama_chunks(pieces)
    server = serve(servers, lambda seen: (200, [b":\n\n", *events], 0.4, 0.0))
    engine = engine_for(server.url, kind=kind, timeout_ms=30000, breaker_failures=1)
    t = time.monotonic()
    request = GenerationRequest(fim("x", ""), max_tokens=64, deadline=t + 0.1, generate_s=1.0)
    result = engine.generate(request, CancelToken())
    took = time.monotonic() - t
    assert result.stop_reason == "deadline"
    assert result.text.startswith("p0 ")  # not cut while the server evaluated the prompt
    assert 1 <= len(result.text.split()) <= 4  # cut about 1 s after the first token
    assert 1.2 < took < 3.0
    assert engine.healthy
    # without generate_s the deadline cuts the prompt's evaluation, as before
    cut = engine.generate(
        GenerationRequest(fim("y", ""), max_tokens=64, deadline=time.monotonic() + 0.1), CancelToken()
    )
    assert cut.stop_reason == "deadline" and cut.text == ""
    engine.close()


def test_server_that_never_answers_is_cut_off_at_the_timeout() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    changes: list[tuple[bool, str]] = []
    engine = engine_for(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout_ms=300, breaker_failures=1)
    engine.on_health_change = lambda ok, msg: changes.append((ok, msg))
    try:
        t = time.monotonic()
        result = engine.generate(GenerationRequest(fim("x", ""), max_tokens=8), CancelToken())
        assert time.monotonic() - t < 5
        assert result.stop_reason == "error" and result.text == ""
        assert len(changes) == 1 and changes[0][0] is False
        assert "no answer within 300 ms" in changes[0][1]
        assert engine.stats["retries"] == 0  # a read timeout is not retried
    finally:
        stop.set()
        acceptor.join(5)
        engine.close()
        listener.close()
        for s in accepted:
            s.close()


def test_dead_server_one_message_fast_empty_completions_and_recovery(servers: list[FakeServer]) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: connection refused
    changes: list[tuple[bool, str]] = []
    engine = engine_for(f"http://127.0.0.1:{port}", breaker_failures=2, breaker_cooldown_ms=200, retries=1)
    engine.on_health_change = lambda ok, msg: changes.append((ok, msg))
    request = GenerationRequest(fim("x", ""), max_tokens=8)
    for _ in range(10):
        result = engine.generate(request, CancelToken())
        assert (result.text, result.stop_reason) == ("", "error")
    assert [ok for ok, _ in changes] == [False]
    assert "connection refused" in changes[0][1] and f":{port}" in changes[0][1]
    assert engine.stats["short_circuited"] >= 7
    assert engine.stats["retries"] == 2  # bounded: one retry for each of the two real attempts
    # the server comes back: after the cooldown one probe goes through and completions resume
    serve(servers, lambda seen: (200, openai_chunks(["back"]), 0.0, 0.0), port=port)
    time.sleep(0.25)
    result = engine.generate(request, CancelToken())
    assert result.text == "back"
    assert [ok for ok, _ in changes] == [False, True]
    engine.close()


def test_retry_on_a_dropped_connection_before_output(servers: list[FakeServer]) -> None:
    calls = {"n": 0}

    def script(seen: Seen) -> tuple[int, Any, float, float]:
        calls["n"] += 1
        if calls["n"] == 1:
            return 503, [{"error": "loading model"}], 0.0, 0.0
        return 200, openai_chunks(["fine"]), 0.0, 0.0

    server = serve(servers, script)
    engine = engine_for(server.url)
    result = engine.generate(GenerationRequest(fim("x", ""), max_tokens=8), CancelToken())
    assert result.text == "fine" and engine.stats["retries"] == 1
    engine.close()


def test_stream_cut_after_output_is_kept_as_a_short_completion_and_not_retried(
    servers: list[FakeServer],
) -> None:
    # The stream breaks after the first piece (the handler closes without the last chunk), as
    # llama-cpp-python's server does to a request when another one waits.
    server = serve(servers, lambda seen: (200, openai_chunks(["half"])[:1], 0.0, 0.01))
    engine = engine_for(server.url, breaker_failures=1)
    result = engine.generate(GenerationRequest(fim("x", ""), max_tokens=8), CancelToken())
    assert (result.text, result.stop_reason) == ("half", "length")
    assert len(server.seen) == 1 and engine.stats["retries"] == 0
    assert engine.healthy  # the server answered: cutting a stream is not being down
    # [DONE] without a finish_reason is a cut too
    server.script = lambda seen: (200, [*openai_chunks(["ab"])[:1], "[DONE]"], 0.0, 0.0)
    result = engine.generate(GenerationRequest(fim("x", ""), max_tokens=8), CancelToken())
    assert (result.text, result.stop_reason) == ("ab", "length")
    engine.close()


def test_api_key_never_in_messages_or_logs(
    servers: list[FakeServer],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Any,
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("sk-file-secret-456\n")
    server = serve(servers, lambda seen: (401, {"detail": "Invalid API key"}, 0.0, 0.0))
    changes: list[tuple[bool, str]] = []
    engine = make_engine(
        ByteTokenizer(),
        url=server.url,
        model="m",
        api_key_file=str(key_file),
        breaker_failures=1,
        on_health_change=lambda ok, m: changes.append((ok, m)),
    )
    with caplog.at_level(logging.DEBUG):
        result = engine.generate(GenerationRequest(fim("x", ""), max_tokens=8), CancelToken())
    assert result.stop_reason == "error"
    assert server.seen[-1].headers["Authorization"] == "Bearer sk-file-secret-456"
    assert changes and "API key was refused" in changes[0][1]
    assert "sk-file-secret" not in caplog.text and all("sk-file-secret" not in m for _, m in changes)
    assert "sk-file-secret" not in repr(engine.settings)
    engine.close()


def test_prompt_with_literal_special_text_is_not_sent_as_text(servers: list[FakeServer]) -> None:
    server = serve(servers, lambda seen: (200, openai_chunks(["x"]), 0.0, 0.0))
    engine = engine_for(server.url)
    # A file that literally contains "<|endoftext|>" (tokenized as plain text) would become a special
    # token on a server that parses specials: refuse rather than send a different prompt.
    prompt = fim('s = "<|endoftext|>"', "")
    result = engine.generate(GenerationRequest(prompt, max_tokens=8), CancelToken())
    assert result.stop_reason == "error"
    assert not [s for s in server.seen if s.path == "/v1/completions"]
    assert engine.healthy
    engine.close()


def test_model_name_asked_from_the_server_when_not_set(servers: list[FakeServer]) -> None:
    def script(seen: Seen) -> tuple[int, Any, float, float]:
        if seen.path == "/v1/models":
            return 200, [{"object": "list", "data": [{"id": "qwen-coder-7b"}]}], 0.0, 0.0
        return 200, openai_chunks(["y"]), 0.0, 0.0

    server = serve(servers, script)
    engine = engine_for(server.url, model="")
    engine.generate(GenerationRequest(fim("x", ""), max_tokens=4), CancelToken())
    assert server.seen[-1].body["model"] == "qwen-coder-7b"
    engine.close()


def test_check_reports_latency_models_and_tokenizer_match(servers: list[FakeServer]) -> None:
    tok = ByteTokenizer()

    def script(seen: Seen) -> tuple[int, Any, float, float]:
        if seen.path == "/v1/models":
            return 200, [{"data": [{"id": "m"}]}], 0.0, 0.0
        if seen.path == "/extras/tokenize":
            return 200, [{"tokens": tok.tokenize(seen.body["input"])}], 0.0, 0.0
        return 404, {"detail": "no"}, 0.0, 0.0

    server = serve(servers, script)
    engine = engine_for(server.url)
    report = engine.check()
    assert report.ok and report.models == ["m"] and report.tokenizer_match is True
    assert report.latency_ms is not None and report.latency_ms >= 0
    assert any(line.startswith("latency:") for line in report.lines())

    class OffByOne(ByteTokenizer):
        def tokenize(self, text: str) -> list[int]:
            return [t + 1 for t in super().tokenize(text)]

    report = engine.check(local_tokenizer=OffByOne())
    assert report.tokenizer_match is False and not report.ok
    engine.close()


def test_remote_tokenizer_caches_and_strips_bos(servers: list[FakeServer]) -> None:
    def script(seen: Seen) -> tuple[int, Any, float, float]:
        if seen.path == "/extras/tokenize":
            return 200, [{"tokens": [1, *list(seen.body["input"].encode())]}], 0.0, 0.0
        return 404, {"detail": "no"}, 0.0, 0.0

    server = serve(servers, script)
    engine = make_engine(None, url=server.url, model="m")
    assert engine.tokenizer.tokenize("ab") == [97, 98]
    n = len(server.seen)
    assert engine.tokenizer.tokenize("ab") == [97, 98]
    assert len(server.seen) == n  # cached
    engine.close()


def test_side_request_on_a_connection_the_server_just_closed_is_sent_again(servers: list[FakeServer]) -> None:
    calls = {"tokenize": 0}

    def script(seen: Seen) -> tuple[int, Any, float, float]:
        if seen.path == "/extras/tokenize":
            calls["tokenize"] += 1
            if calls["tokenize"] == 2:  # as a server does whose keep-alive timer fires as we reuse it
                return 0, None, 0.0, 0.0
            return 200, [{"tokens": list(seen.body["input"].encode())}], 0.0, 0.0
        return 404, {"detail": "no"}, 0.0, 0.0

    server = serve(servers, script)
    engine = make_engine(None, url=server.url, model="m")
    assert engine.tokenizer.tokenize("") == []
    assert engine.tokenizer.tokenize("ab") == [97, 98]  # 1st call, and the BOS probe is the 2nd: dropped
    assert calls["tokenize"] == 3 and engine.healthy and engine.stats["errors"] == 0
    engine.close()


def test_remote_tokenizer_fails_fast_while_the_server_is_down() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    changes: list[bool] = []
    engine = make_engine(
        None,
        url=f"http://127.0.0.1:{port}",
        model="m",
        breaker_failures=1,
        on_health_change=lambda ok, m: changes.append(ok),
    )
    with pytest.raises(EngineError):
        engine.tokenizer.tokenize("abc")
    assert changes == [False]  # a failed tokenize counts like a failed generation
    calls = engine.stats["errors"]
    for _ in range(5):
        with pytest.raises(EngineError):
            engine.tokenizer.tokenize("abcd")
    assert engine.stats["errors"] == calls  # no further network attempts while cooling down
    assert (
        engine.generate(GenerationRequest(fim("x", ""), max_tokens=4), CancelToken()).stop_reason == "error"
    )
    engine.close()


def test_prompt_text_from_the_remote_tokenizer_needs_no_detokenize_calls(servers: list[FakeServer]) -> None:
    def script(seen: Seen) -> tuple[int, Any, float, float]:
        if seen.path == "/extras/tokenize":
            text = seen.body["input"]
            if text in qwen.SPECIAL_IDS:
                return 200, [{"tokens": [qwen.SPECIAL_IDS[text]]}], 0.0, 0.0
            return 200, [{"tokens": list(text.encode())}], 0.0, 0.0
        if seen.path == "/v1/completions":
            return 200, openai_chunks(["ok"]), 0.0, 0.0
        return 404, {"detail": "no"}, 0.0, 0.0

    server = serve(servers, script)
    engine = make_engine(None, url=server.url, model="m")
    tok = engine.tokenizer
    ids = qwen.SPECIAL_IDS
    prompt = [ids[qwen.FIM_PREFIX], *tok.tokenize("def f():\n    "), ids[qwen.FIM_SUFFIX]]
    prompt += [*tok.tokenize("\n"), ids[qwen.FIM_MIDDLE]]
    assert engine.generate(GenerationRequest(prompt, max_tokens=4), CancelToken()).text == "ok"
    sent = [s.body for s in server.seen if s.path == "/v1/completions"][-1]
    assert sent["prompt"] == "<|fim_prefix|>def f():\n    <|fim_suffix|>\n<|fim_middle|>"
    assert not [s for s in server.seen if "detokenize" in s.path]
    engine.close()


def test_settings_from_camel_case_mapping() -> None:
    settings, warnings = from_mapping(
        RemoteSettings, {"url": "https://gpu.example:8443", "timeoutMs": 800, "apiKeyEnv": "K"}
    )
    assert warnings == []
    assert settings.timeout_ms == 800 and settings.api_key_env == "K"
    _, warnings = from_mapping(RemoteSettings, {"url": "gpu:80", "timeoutMs": 10})
    assert any("url" in w for w in warnings) and any("timeoutMs" in w for w in warnings)


def test_the_engine_refuses_settings_it_cannot_connect_with() -> None:
    with pytest.raises(EngineError, match="url is empty"):
        RemoteEngine(RemoteSettings(), None)
    with pytest.raises(EngineError, match="kind must be"):
        RemoteEngine(RemoteSettings(url="http://127.0.0.1:1"), None, kind="vllm")  # type: ignore[arg-type]
    with pytest.raises(EngineError, match="breakerFailures"):
        RemoteEngine(RemoteSettings(url="http://127.0.0.1:1"), None, policy=ClientPolicy(breaker_failures=0))


def test_one_declaration_of_the_remote_settings() -> None:
    from qwen_ls.config import EngineSection, Settings
    from qwen_ls.engine.remote.formats import WIRE_FORMATS
    from qwen_ls.engine.remote.settings import REMOTE_KINDS, EngineKind

    assert type(Settings().engine.remote) is RemoteSettings
    assert RemoteSettings().api_key_env == "QWEN_LS_API_KEY"
    # every remote kind has a wire format, and engine.kind offers exactly those and "embedded"
    assert set(WIRE_FORMATS) == set(REMOTE_KINDS)
    assert set(typing.get_args(EngineKind)) == {"embedded", *REMOTE_KINDS}
    assert typing.get_type_hints(EngineSection)["kind"] == EngineKind


def test_circuit_breaker_transitions() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=2, cooldown_s=1.0, max_cooldown_s=4.0, clock=lambda: now[0])
    assert breaker.allow()
    assert breaker.record_failure() is False
    assert breaker.record_failure() is True  # opens once
    assert breaker.record_failure() is False
    assert not breaker.allow()
    now[0] = 1.0
    assert breaker.allow()  # one half-open probe
    assert not breaker.allow()  # and only one
    assert breaker.record_failure() is False  # probe failed: open again with a doubled cooldown
    now[0] = 2.5
    assert not breaker.allow()
    now[0] = 3.0
    assert breaker.allow()
    assert breaker.record_success() is True  # recovered once
    assert breaker.record_success() is False
    assert breaker.healthy
