"""End to end over stdio with a remote backend: `qwen-ls serve` with `engine.kind = "openai"` pointing at a
real llama_cpp.server on 127.0.0.1 (completions come back; a killed server gives one message and empty
completions, its restart brings completions back without restarting qwen-ls), and at a server that
accepts connections and never answers (cut off at the timeout)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from qwen_ls.engine.remote.local_server import LlamaCppServer, free_port, have_llama_server_extra
from tests.conftest import needs_llama
from tests.e2e.lsp import inline_params, open_doc, session

pytestmark = [
    needs_llama,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not have_llama_server_extra(),
        reason='needs llama-cpp-python\'s server extra: pip install "llama-cpp-python[server]"',
    ),
]

TEXT = "".join(f"word{i} alpha beta gamma delta {i}\n" for i in range(60))


def _workspace(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / ".git").mkdir()
    (root / "notes.txt").write_text(TEXT)
    return root


def _options(url: str, tokenizer: Path, timeout_ms: int = 20000) -> dict[str, Any]:
    return {
        "engine": {
            "kind": "openai",
            "nCtx": 2048,
            "remote": {"url": url, "tokenizerModel": str(tokenizer), "timeoutMs": timeout_ms, "retries": 1},
        },
        "completion": {"debounceMs": 0, "maxTokens": 16, "deadlineMs": 0},
    }


def _items(result: Any) -> list[Any]:
    if result is None:
        return []
    return list(result.items if isinstance(result, types.InlineCompletionList) else result)


def _server_messages(client: Any, url: str) -> list[str]:
    return [m.message for m in client.messages if url in m.message]


@pytest.fixture
def llama_server(tiny_model: Path, tmp_path: Path) -> Iterator[LlamaCppServer]:
    srv = LlamaCppServer(tiny_model, free_port(), tmp_path / "server.log", n_ctx=2048)
    srv.start()
    yield srv
    srv.stop()


async def test_completions_come_back_from_the_remote_server(
    tmp_path: Path, tiny_model: Path, llama_server: LlamaCppServer
) -> None:
    root = _workspace(tmp_path)
    async with session(root, init_options=_options(llama_server.url, tiny_model)) as (client, rec):
        await rec.wait_state("ready")
        uri = open_doc(client, root / "notes.txt", TEXT, "plaintext")
        result = await client.text_document_inline_completion_async(inline_params(uri, 30, 0))
        items = _items(result)
        assert len(items) == 1
        assert isinstance(items[0].insert_text, str) and items[0].insert_text.strip()
        assert '"POST /v1/completions HTTP/1.1" 200' in llama_server.log_text()


async def test_killed_server_one_message_then_recovery_without_restart(
    tmp_path: Path, tiny_model: Path, llama_server: LlamaCppServer
) -> None:
    root = _workspace(tmp_path)
    url = llama_server.url
    async with session(root, init_options=_options(url, tiny_model)) as (client, rec):
        await rec.wait_state("ready")
        uri = open_doc(client, root / "notes.txt", TEXT, "plaintext")
        result = await client.text_document_inline_completion_async(inline_params(uri, 30, 0))
        assert _items(result)
        llama_server.stop()
        for i in range(12):  # the user types on while the server is down
            t = time.monotonic()
            result = await client.text_document_inline_completion_async(inline_params(uri, 10 + i, 0))
            assert not _items(result)
            assert time.monotonic() - t < 5  # never hangs
        await asyncio.sleep(0.2)
        down = _server_messages(client, url)
        assert len(down) == 1, [m.message for m in client.messages]
        llama_server.start()
        deadline = time.monotonic() + 20
        items: list[Any] = []
        while not items and time.monotonic() < deadline:
            result = await client.text_document_inline_completion_async(inline_params(uri, 40, 0))
            items = _items(result)
            if not items:
                await asyncio.sleep(0.3)
        assert items, "completions did not come back after the server restarted"


async def test_server_that_never_answers_is_cut_off_at_the_timeout(tmp_path: Path, tiny_model: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])  # accept, read nothing, answer nothing
            except TimeoutError:
                continue
            except OSError:
                return

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    root = _workspace(tmp_path)
    try:
        async with session(root, init_options=_options(url, tiny_model, timeout_ms=800)) as (client, rec):
            await rec.wait_state("ready", "error")
            uri = open_doc(client, root / "notes.txt", TEXT, "plaintext")
            for i in range(4):
                t = time.monotonic()
                result = await asyncio.wait_for(
                    client.text_document_inline_completion_async(inline_params(uri, 10 + i, 0)), 10
                )
                assert not _items(result)
                assert time.monotonic() - t < 5
            assert held, "qwen-ls never connected"
            assert len(_server_messages(client, url)) == 1, [m.message for m in client.messages]
            errors = [m for m in client.messages if m.type == types.MessageType.Error]
            assert len(errors) <= 1
    finally:
        stop.set()
        acceptor.join(5)
        listener.close()
        for s in held:
            s.close()
