"""The command lines of the local test servers (no process is started)."""

from __future__ import annotations

import sys
from pathlib import Path

from qwen_ls.engine.remote.local_server import LlamaCppServer, LlamaServer


def test_llama_cpp_server_command() -> None:
    srv = LlamaCppServer(Path("m.gguf"), 8123, Path("log"), n_ctx=4096, threads=2, extra=["--verbose", "1"])
    assert srv.command() == [
        sys.executable, "-m", "llama_cpp.server", "--model", "m.gguf", "--host", "127.0.0.1",
        "--port", "8123", "--n_ctx", "4096", "--n_threads", "2", "--verbose", "1",
    ]  # fmt: skip
    assert srv.url == "http://127.0.0.1:8123"
    assert srv.ready_path == "/v1/models"


def test_llama_server_command() -> None:
    srv = LlamaServer(Path("/opt/llama-server"), Path("m.gguf"), 8124, Path("log"), extra=["--temp", "0"])
    assert srv.command() == [
        "/opt/llama-server", "--model", "m.gguf", "--host", "127.0.0.1", "--port", "8124",
        "--ctx-size", "2048", "--threads", "1", "--parallel", "1", "--no-webui", "--temp", "0",
    ]  # fmt: skip
    assert srv.ready_path == "/health"
