"""qwen-ls's own completion pipeline (prompt assembly, stop rules, post-processing) over the embedded
engine and over a real llama_cpp.server: the server receives exactly the embedded engine's prompt, and
the completion does not depend on where the model runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from qwen_ls.engine.base import CancelToken, GenerationRequest, GenerationResult, TextCallback
from qwen_ls.engine.remote import RemoteSettings, open_remote_engine
from qwen_ls.engine.remote.local_server import LlamaCppServer, free_port, have_llama_server_extra
from tests.conftest import needs_llama
from tests.e2e.test_remote_engine import RecordingProxy

pytestmark = [
    needs_llama,
    pytest.mark.slow,
    pytest.mark.skipif(
        not have_llama_server_extra(),
        reason='needs llama-cpp-python\'s server extra: pip install "llama-cpp-python[server]"',
    ),
]

SOURCE = '''import os


def read_config(path: str) -> dict[str, str]:
    """Key = value lines; # starts a comment. ünïcödé → kept."""
    values: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def main() -> None:
    cfg = read_config(os.environ.get("CONFIG", "app.cfg"))
    print(cfg)
'''


class Recording:
    """Wraps an engine and keeps the requests it was given."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.requests: list[GenerationRequest] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def generate(
        self, request: GenerationRequest, cancel: CancelToken, on_text: TextCallback | None = None
    ) -> GenerationResult:
        self.requests.append(request)
        result: GenerationResult = self.engine.generate(request, cancel, on_text)
        return result


@pytest.mark.parametrize("tokenizer", ["local", "server"])
def test_pipeline_sends_the_embedded_prompt_and_gets_the_same_completion(
    tiny_model: Path, tmp_path: Path, tokenizer: str
) -> None:
    from qwen_ls.completion import CompletionPipeline, CompletionSettings, Snapshot
    from qwen_ls.engine.llama import EngineSettings, LlamaEngine

    server = LlamaCppServer(tiny_model, free_port(), tmp_path / "server.log", n_ctx=2048)
    server.start()
    proxy = RecordingProxy(server.port)
    # Same numerics on both sides: llama_cpp.server runs without flash attention, prefills in batches of
    # 512 and reuses only the common prefix of the previous prompt (no shifted chunks). A random-weight
    # model's noise is sensitive to all three; a real model's argmax rarely is.
    same_numerics = EngineSettings(n_ctx=2048, n_batch=512, flash_attention="off", cache_reuse=0)
    embedded = Recording(LlamaEngine(tiny_model, same_numerics))
    # "local": budgets with the GGUF's vocabulary loaded vocab-only; "server": its tokenize endpoint.
    tokenizer_model = str(tiny_model) if tokenizer == "local" else ""
    remote = open_remote_engine(RemoteSettings(url=proxy.url, tokenizer_model=tokenizer_model), kind="openai")
    try:
        settings = CompletionSettings(max_tokens=24)
        local_pipe = CompletionPipeline(embedded, settings)
        remote_pipe = CompletionPipeline(remote, settings)
        path = tmp_path / "app" / "config.py"
        for marker in ("            key, _, value", "    print(cfg)", "    with open(path"):
            offset = SOURCE.index(marker) + len(marker)
            snap = Snapshot(
                uri=path.as_uri(),
                text=SOURCE,
                offset=offset,
                language="python",
                path=path,
                rel_path="app/config.py",
                repo_name="app",
                invoked=True,
            )
            local = local_pipe.run(snap, CancelToken())
            far = remote_pipe.run(snap, CancelToken())
            sent = [body for p, body in proxy.bodies if p == "/v1/completions"][-1]
            r = httpx.post(server.url + "/extras/tokenize", json={"input": sent["prompt"]}, timeout=10)
            assert r.json()["tokens"] == embedded.requests[-1].prompt, marker
            assert far.prompt is not None and far.prompt.tokens == embedded.requests[-1].prompt
            assert (far.raw, far.text, far.label) == (local.raw, local.text, local.label), marker
    finally:
        embedded.close()
        remote.close()
        proxy.close()
        server.stop()
