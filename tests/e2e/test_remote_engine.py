"""The remote engine against a real llama-cpp-python OpenAI-compatible server on 127.0.0.1, with a
synthetic model: completions, the exact prompt the server receives, server-side cancellation, a server
killed and restarted mid-session."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from qwen_ls import qwen
from qwen_ls.engine.base import CancelToken, GenerationRequest
from qwen_ls.engine.remote import ClientPolicy, RemoteEngine, RemoteSettings, open_remote_engine
from qwen_ls.engine.remote.local_server import LlamaCppServer, free_port, have_llama_server_extra
from tests.conftest import needs_llama
from tests.e2e.remote_checks import cancel_on_first_text, killed_then_restarted

pytestmark = [
    needs_llama,
    pytest.mark.slow,
    pytest.mark.skipif(
        not have_llama_server_extra(),
        reason='needs llama-cpp-python\'s server extra: pip install "llama-cpp-python[server]"',
    ),
]


@pytest.fixture(scope="module")
def model(tiny_model: Path) -> Path:
    return tiny_model


@pytest.fixture(scope="module")
def server(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppServer]:
    srv = LlamaCppServer(model, free_port(), tmp_path_factory.mktemp("remote-log") / "server.log")
    srv.start()
    yield srv
    srv.stop()


class RecordingProxy:
    """A reverse proxy to `upstream` that records every request body and streams responses through."""

    def __init__(self, upstream_port: int) -> None:
        self.bodies: list[tuple[str, dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                outer.bodies.append((self.path, json.loads(raw) if raw else {}))
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=raw, headers=headers)
                resp = conn.getresponse()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(k, v)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    while True:
                        data = resp.read1(65536)
                        if not data:
                            break
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                finally:
                    conn.close()

            do_GET = _forward
            do_POST = _forward

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def fim_prompt(model: Path) -> list[int]:
    """A repository-level FIM prompt built the embedded engine's way: text tokenized without special
    parsing, special ids inserted as integers."""
    from qwen_ls.engine.llama import load_tokenizer

    tok = load_tokenizer(model)
    ids = qwen.SPECIAL_IDS
    other = (
        "import os\n\n\ndef helper(path: str) -> str:\n    return os.path.basename(path)  # ünïcode → ok\n"
    )
    prefix = "from util import helper\n\n\nclass Point:\n    def __init__(self, x, y):\n        self.x = x\n"
    suffix = "\n\n    def norm(self):\n        return (self.x ** 2 + self.y ** 2) ** 0.5\n"
    parts: list[int | str] = [
        ids[qwen.REPO_NAME],
        "qwen-ls\n",
        ids[qwen.FILE_SEP],
        "src/util.py\n" + other + "\n",
        ids[qwen.FILE_SEP],
        "src/point.py\n",
        ids[qwen.FIM_PREFIX],
        prefix + "        self.y",
        ids[qwen.FIM_SUFFIX],
        suffix,
        ids[qwen.FIM_MIDDLE],
    ]
    out: list[int] = []
    for part in parts:
        out.extend(tok.tokenize(part) if isinstance(part, str) else [part])
    return out


def settings(url: str, **kw: Any) -> RemoteSettings:
    return RemoteSettings(**{"url": url, "timeout_ms": 30000, **kw})


def connect(url: str, model: Path, policy: ClientPolicy | None = None, **kw: Any) -> RemoteEngine:
    """An OpenAI-kind engine with the model's own tokenizer (a vocab-only load)."""
    return open_remote_engine(
        settings(url, tokenizer_model=str(model), **kw),
        kind="openai",
        policy=policy or ClientPolicy(retry_backoff_ms=20),
    )


def test_completion_and_the_server_receives_exactly_our_prompt(server: LlamaCppServer, model: Path) -> None:
    proxy = RecordingProxy(server.port)
    engine = connect(proxy.url, model)
    try:
        prompt = fim_prompt(model)
        result = engine.generate(GenerationRequest(prompt, max_tokens=12), CancelToken())
        assert result.stop_reason in ("length", "stop")
        assert result.text, "no completion came back"
        assert result.n_generated > 0 and result.t_first_token > 0
        sent = [body for path, body in proxy.bodies if path == "/v1/completions"]
        assert len(sent) == 1
        # What the server tokenizes (with special parsing) is our token list, token for token.
        r = httpx.post(server.url + "/extras/tokenize", json={"input": sent[0]["prompt"]}, timeout=10)
        assert r.json()["tokens"] == prompt
        assert sent[0]["temperature"] == 0.0 and sent[0]["stream"] is True
    finally:
        engine.close()
        proxy.close()


def test_same_completion_as_the_embedded_engine(server: LlamaCppServer, model: Path) -> None:
    from qwen_ls.engine.llama import EngineSettings, LlamaEngine

    prompt = fim_prompt(model)
    # The same numerics on both sides: llama_cpp.server runs without flash attention by default, and
    # flash attention alone changes the noise a random-weight model generates after a few tokens.
    embedded = LlamaEngine(model, EngineSettings(n_ctx=2048, flash_attention="off"))
    remote = connect(server.url, model)
    try:
        request = GenerationRequest(prompt, max_tokens=16, stop_ids=frozenset(qwen.SPECIAL_IDS.values()))
        local = embedded.generate(request, CancelToken())
        far = remote.generate(request, CancelToken())
        assert far.text == local.text
        assert far.n_generated == local.n_generated
    finally:
        embedded.close()
        remote.close()


def test_cancel_stops_generation_on_the_server(server: LlamaCppServer, model: Path) -> None:
    engine = connect(server.url, model)
    try:
        prompt = fim_prompt(model)
        # Reference: a 64-token generation the server is allowed to finish.
        t = time.monotonic()
        ref = engine.generate(GenerationRequest(prompt, max_tokens=64), CancelToken())
        t_ref = time.monotonic() - t
        assert ref.n_generated >= 32, ref

        log_before = len(server.log_text())
        cancel = CancelToken()
        on_text = cancel_on_first_text(cancel)
        # Not much longer than this: llama_cpp.server turns cubic on long runs of random bytes, and
        # holds its output back (so it cannot see a disconnect) while it does.
        result = engine.generate(GenerationRequest(prompt, max_tokens=1000), cancel, on_text=on_text)
        assert result.stop_reason == "cancelled"
        assert result.n_generated < 100
        # The next request is served at once: the server is not still busy with the cancelled one (it
        # holds one model lock, so it would first finish ~1000 tokens, 15x the reference).
        t = time.monotonic()
        nxt = engine.generate(GenerationRequest(prompt, max_tokens=1), CancelToken())
        t_next = time.monotonic() - t
        assert nxt.text
        assert t_next < 4 * t_ref, (t_next, t_ref)
        deadline = time.monotonic() + 5
        marker = "Disconnected from client"  # printed by llama_cpp.server when it drops a stream
        while marker not in server.log_text()[log_before:] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker in server.log_text()[log_before:]
    finally:
        engine.close()


def test_killed_server_one_message_empty_completions_then_recovery(model: Path, tmp_path: Path) -> None:
    srv = LlamaCppServer(model, free_port(), tmp_path / "server.log")
    srv.start()
    engine = connect(
        srv.url,
        model,
        ClientPolicy(retry_backoff_ms=20, breaker_failures=2, breaker_cooldown_ms=300),
        timeout_ms=10000,
        retries=1,
    )
    try:
        killed_then_restarted(engine, GenerationRequest(fim_prompt(model), max_tokens=4), srv)
    finally:
        engine.close()
        srv.stop()


def test_check_against_the_server(server: LlamaCppServer, model: Path) -> None:
    engine = connect(server.url, model)
    try:
        report = engine.check()
        assert report.latency_ms is not None
        assert report.models == [str(model)]
        assert report.tokenizer_match is True, report.problems
        assert report.ok, report.problems
    finally:
        engine.close()


def test_remote_tokenizer_matches_the_local_one(server: LlamaCppServer, model: Path) -> None:
    from qwen_ls.engine.llama import load_tokenizer

    remote = RemoteEngine(settings(server.url), None, kind="openai")
    try:
        text = "def f(x):\n    return [x, x ** 2]  # ok\n"
        assert remote.tokenizer.tokenize(text) == load_tokenizer(model).tokenize(text)
        assert remote.tokenizer.special_id(qwen.FIM_MIDDLE) == qwen.SPECIAL_IDS[qwen.FIM_MIDDLE]
    finally:
        remote.close()
