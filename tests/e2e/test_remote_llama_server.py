"""The llama-server backend against a real llama.cpp `llama-server` (built from the llama.cpp that
llama-cpp-python vendors, by `.ci/build-llama-server.sh`; CI exports its path as $QWEN_LS_LLAMA_SERVER)
on 127.0.0.1 with the synthetic model: completions from our token ids, the same first tokens from its
`/infill` as from our embedded engine, server-side cancellation, a killed server, a hung one (SIGSTOP),
and recovery after a restart. The fake-server tests (tests/unit/test_http_engine.py) cover the rest."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qwen_ls import qwen
from qwen_ls.engine.base import CancelToken, GenerationRequest
from qwen_ls.engine.remote import ClientPolicy, RemoteEngine, RemoteSettings, open_remote_engine
from qwen_ls.engine.remote.local_server import LLAMA_SERVER_ENV, LlamaServer, free_port, llama_server_binary
from tests.conftest import needs_llama
from tests.e2e.remote_checks import cancel_on_first_text, killed_then_restarted, text_comes_back

pytestmark = [
    needs_llama,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not os.environ.get(LLAMA_SERVER_ENV),
        reason=f"no llama-server: build it with .ci/build-llama-server.sh and set ${LLAMA_SERVER_ENV} to it",
    ),
]

#: Same numerics on both sides: no flash attention, one thread, prompts within one batch. A random-weight
#: model's noise is sensitive to each of these; a real model's argmax rarely is.
SERVER_ARGS = ("--flash-attn", "off", "--batch-size", "512", "--ubatch-size", "512")

PREFIX = "import os\n\n\ndef read_config(path):\n    with open(path) as f:\n        for line in f:\n"
SUFFIX = "\n    return config\n\n\ndef main():\n    print(read_config(os.environ['CONFIG']))\n"


def binary() -> Path:
    found = llama_server_binary()
    if found is None:
        pytest.fail(f"${LLAMA_SERVER_ENV} is set but {os.environ[LLAMA_SERVER_ENV]!r} is not an executable")
    return found


def start_server(model: Path, log_path: Path, port: int | None = None) -> LlamaServer:
    srv = LlamaServer(binary(), model, port or free_port(), log_path, n_ctx=2048, extra=SERVER_ARGS)
    srv.env["LLAMA_SERVER_SLOTS_DEBUG"] = "1"  # /slots shows the last prompt
    srv.start()
    return srv


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    srv = start_server(tiny_model, tmp_path_factory.mktemp("llama-server") / "server.log")
    yield srv
    srv.stop()


def connect(url: str, model: Path, policy: ClientPolicy | None = None, **kw: Any) -> RemoteEngine:
    """A llama-server engine with the model's own tokenizer (a vocab-only load)."""
    settings = RemoteSettings(**{"url": url, "timeout_ms": 30000, "tokenizer_model": str(model), **kw})
    return open_remote_engine(
        settings, kind="llama-server", policy=policy or ClientPolicy(retry_backoff_ms=20)
    )


def repo_prompt(model: Path) -> list[int]:
    """The prompt qwen-ls builds (repository header, file header, FIM), with the names and the assembly
    llama-server's /infill uses for a request without extra context."""
    from qwen_ls.engine.llama import load_tokenizer
    from qwen_ls.prompt import SpecialIds, assemble, build_window

    tok = load_tokenizer(model)
    text = PREFIX + SUFFIX
    window = build_window(tok, text, len(PREFIX), 1024, 1024)
    assert (window.prefix, window.suffix) == (PREFIX, SUFFIX)
    ids = SpecialIds.from_tokenizer(tok)
    return assemble(tok, ids, repo_name="myproject", path="filename", window=window).tokens


def slot(server: LlamaServer) -> dict[str, Any]:
    slots = httpx.get(server.url + "/slots", timeout=5).json()
    assert isinstance(slots, list) and slots
    first: dict[str, Any] = slots[0]
    return first


def test_completion_from_our_token_ids(server: LlamaServer, tiny_model: Path) -> None:
    engine = connect(server.url, tiny_model)
    try:
        assert engine.n_ctx == 2048  # learned from /props: never budget beyond the server's context
        prompt = repo_prompt(tiny_model)
        result = engine.generate(GenerationRequest(prompt, max_tokens=12), CancelToken())
        assert result.stop_reason in ("length", "stop"), result
        assert result.text and result.tokens and result.t_first_token > 0
        assert 0 < result.n_generated <= 12
        assert result.n_evaluated + result.n_reused == len(prompt)  # the server's timings came back
        # the tokens it streamed are the text it streamed
        assert engine.tokenizer.detokenize(result.tokens) == result.text
        again = engine.generate(GenerationRequest(prompt, max_tokens=12), CancelToken())
        assert again.text == result.text  # greedy
        assert again.n_reused >= len(prompt) - 1  # cache_prompt: the server reused its KV cache
        report = engine.check()
        assert report.ok, report.problems
        assert report.models == [str(tiny_model)] and report.n_ctx == 2048
        assert report.tokenizer_match is True
    finally:
        engine.close()


def test_infill_and_the_embedded_engine_give_the_same_first_tokens(
    server: LlamaServer, tiny_model: Path
) -> None:
    from qwen_ls.engine.llama import EngineSettings, LlamaEngine

    prompt = repo_prompt(tiny_model)
    n = 8
    r = httpx.post(
        server.url + "/infill",
        json={
            "input_prefix": PREFIX,
            "input_suffix": SUFFIX,
            "n_predict": n,
            "temperature": 0.0,
            "top_k": 1,
            "repeat_penalty": 1.0,
            "cache_prompt": False,
            "return_tokens": True,
            "ignore_eos": True,
        },
        timeout=60,
    )
    assert r.status_code == 200, r.text
    infill = r.json()
    # /infill assembled the same prompt as ours (same length; the same text below)
    assert infill["tokens_evaluated"] == len(prompt)
    embedded = LlamaEngine(
        tiny_model, EngineSettings(n_ctx=2048, n_batch=512, threads=1, flash_attention="off", cache_reuse=0)
    )
    remote = connect(server.url, tiny_model)
    try:
        local = embedded.generate(GenerationRequest(prompt, max_tokens=n), CancelToken())
        assert len(local.tokens) == n, local
        assert infill["tokens"] == local.tokens
        # and our own wire format (/completion with the token ids) agrees with both
        far = remote.generate(GenerationRequest(prompt, max_tokens=n), CancelToken())
        assert far.tokens == local.tokens and far.text == local.text
    finally:
        embedded.close()
        remote.close()


def test_cancel_stops_generation_on_the_server(server: LlamaServer, tiny_model: Path) -> None:
    engine = connect(server.url, tiny_model)
    try:
        prompt = repo_prompt(tiny_model)
        cancel = CancelToken()
        on_text = cancel_on_first_text(cancel)
        max_tokens = 1500
        result = engine.generate(GenerationRequest(prompt, max_tokens=max_tokens), cancel, on_text=on_text)
        assert result.stop_reason == "cancelled"
        # The server sees the disconnect and frees its slot long before it would have finished.
        deadline = time.monotonic() + 5
        while slot(server)["is_processing"] and time.monotonic() < deadline:
            time.sleep(0.05)
        state = slot(server)
        assert not state["is_processing"]
        assert state["next_token"][0]["n_decoded"] < max_tokens // 3, state["next_token"]
        # and serves the next request at once
        nxt = engine.generate(GenerationRequest(prompt, max_tokens=2), CancelToken())
        assert nxt.text and nxt.stop_reason == "length"
        assert engine.healthy
    finally:
        engine.close()


def test_killed_server_one_message_empty_completions_then_recovery(tiny_model: Path, tmp_path: Path) -> None:
    srv = start_server(tiny_model, tmp_path / "server.log")
    engine = connect(
        srv.url,
        tiny_model,
        ClientPolicy(retry_backoff_ms=20, breaker_failures=2, breaker_cooldown_ms=300),
        timeout_ms=10000,
        retries=1,
    )
    try:
        request = GenerationRequest(repo_prompt(tiny_model), max_tokens=4)
        assert "connection refused" in killed_then_restarted(engine, request, srv)
    finally:
        engine.close()
        srv.stop()


def test_hung_server_is_cut_off_at_the_timeout_then_recovers(tiny_model: Path, tmp_path: Path) -> None:
    srv = start_server(tiny_model, tmp_path / "server.log")
    changes: list[tuple[bool, str]] = []
    engine = connect(
        srv.url,
        tiny_model,
        ClientPolicy(
            retry_backoff_ms=20, breaker_failures=1, breaker_cooldown_ms=300, breaker_max_cooldown_ms=1000
        ),
        timeout_ms=500,
        retries=1,
    )
    engine.on_health_change = lambda ok, msg: changes.append((ok, msg))
    try:
        request = GenerationRequest(repo_prompt(tiny_model), max_tokens=4)
        assert engine.generate(request, CancelToken()).text
        srv.pause()  # SIGSTOP: the socket still accepts, nothing answers
        t = time.monotonic()
        result = engine.generate(request, CancelToken())
        assert (result.text, result.stop_reason) == ("", "error")
        assert time.monotonic() - t < 3  # the timeout, not a hang (a read timeout is not retried)
        assert [ok for ok, _ in changes] == [False]
        assert "no answer within 500 ms" in changes[0][1]
        t = time.monotonic()
        for _ in range(10):
            assert engine.generate(request, CancelToken()).stop_reason == "error"
        assert time.monotonic() - t < 3  # at most a few probes wait for the timeout
        srv.resume()
        text = text_comes_back(engine, request, 15)
        assert text, "completions did not come back after the server woke up"
        assert [ok for ok, _ in changes] == [False, True]
    finally:
        srv.resume()
        engine.close()
        srv.stop()


def test_special_ids_and_stop_ids_from_the_servers_tokenizer(server: LlamaServer, tiny_model: Path) -> None:
    from qwen_ls.engine.llama import load_tokenizer

    remote = RemoteEngine(RemoteSettings(url=server.url), None, kind="llama-server")
    try:
        text = "def f(x):\n    return [x, x ** 2]  # ünïcode → ok\n"
        assert remote.tokenizer.tokenize(text) == load_tokenizer(tiny_model).tokenize(text)
        assert remote.tokenizer.special_id(qwen.FIM_MIDDLE) == qwen.SPECIAL_IDS[qwen.FIM_MIDDLE]
        assert remote.stop_ids() >= {qwen.SPECIAL_IDS[qwen.FIM_PREFIX], qwen.SPECIAL_IDS[qwen.FILE_SEP]}
    finally:
        remote.close()


async def test_serve_with_engine_kind_llama_server(
    tmp_path: Path, server: LlamaServer, tiny_model: Path
) -> None:
    """The whole path: an editor's request, qwen-ls's prompt, llama-server's completion, ghost text."""
    from lsprotocol import types

    from tests.e2e.lsp import inline_params, open_doc, session

    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)
    text = "".join(f"word{i} alpha beta gamma delta {i}\n" for i in range(60))
    (root / "notes.txt").write_text(text)
    options = {
        "engine": {
            "kind": "llama-server",
            "remote": {"url": server.url, "tokenizerModel": str(tiny_model), "timeoutMs": 20000},
        },
        "completion": {"debounceMs": 0, "maxTokens": 16, "deadlineMs": 0, "prefetchTokens": 0},
    }
    async with session(root, init_options=options) as (client, rec):
        await rec.wait_state("ready")
        uri = open_doc(client, root / "notes.txt", text, "plaintext")
        result = await client.text_document_inline_completion_async(inline_params(uri, 30, 0))
        items = list(result.items if isinstance(result, types.InlineCompletionList) else result or [])
        assert len(items) == 1
        assert isinstance(items[0].insert_text, str) and items[0].insert_text.strip()
    # the server completed qwen-ls's own repository-level prompt
    prompt = slot(server)["prompt"]
    assert "notes.txt" in prompt and qwen.FIM_PREFIX in prompt and qwen.FIM_MIDDLE in prompt
