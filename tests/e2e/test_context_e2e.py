"""Repository context through the real server: the right definition under its real path, secrets never in a
prompt, and the context part of the prompt reused from the KV cache while typing."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from tests.conftest import needs_llama
from tests.e2e.lsp import inline_params, insert, open_doc, session

pytestmark = [needs_llama, pytest.mark.slow, pytest.mark.timeout(180)]

UTIL = '''"""Checksums for the storage layer."""


def compute_checksum(data: bytes, seed: int = 7) -> int:
    """A rolling checksum of data."""
    total = seed
    for byte in data:
        total = (total * 31 + byte) % 1_000_003
    return total


def unrelated_helper() -> str:
    return "nothing to see"
'''

MAIN = """from storage.util import compute_checksum


def store(blob: bytes) -> dict:
    record = {"size": len(blob)}
    record["sum"] = compute_
    return record
"""

SECRET_ENV = "API_TOKEN=sk-live-0123456789abcdef\nDB_PASSWORD=hunter2-very-secret\n"
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
FAST = {"completion": {"debounceMs": 0, "maxTokens": 8, "deadlineMs": 0, "prefetchTokens": 0}}


def _workspace(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    (root / "storage").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "storage" / "__init__.py").write_text("")
    (root / "storage" / "util.py").write_text(UTIL)
    (root / "app.py").write_text(MAIN)
    (root / ".env").write_text(SECRET_ENV)
    (root / "id_rsa").write_text(PRIVATE_KEY)
    (root / "deploy.key").write_text(PRIVATE_KEY)
    return root


async def _command(client, name: str, *args):  # type: ignore[no-untyped-def]
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=name, arguments=list(args) or None)
    )


async def _wait_index(client) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    for _ in range(100):
        stats = await _command(client, "qwen.stats")
        if (stats.get("context") or {}).get("index_ready"):
            return  # built: a finished build re-ranks context, so tests start after it
        await asyncio.sleep(0.1)
    raise AssertionError("the workspace index was never built")


async def test_definition_from_the_other_file_is_in_the_prompt(tmp_path: Path, tiny_model: Path) -> None:
    root = _workspace(tmp_path)
    async with session(root, init_options={"model": str(tiny_model), **FAST}) as (client, rec):
        await rec.wait_state("ready")
        await _wait_index(client)
        uri = open_doc(client, root / "app.py", MAIN)
        line = MAIN.splitlines().index('    record["sum"] = compute_')
        await client.text_document_inline_completion_async(
            inline_params(uri, line, len('    record["sum"] = compute_'))
        )
        prompt = (await _command(client, "qwen.lastPrompt"))["prompt"]
        assert prompt is not None, await _command(client, "qwen.stats")
        assert prompt.startswith("<|repo_name|>shop\n")
        assert "<|file_sep|>storage/util.py\n" in prompt
        assert "def compute_checksum(data: bytes, seed: int = 7) -> int:" in prompt
        assert prompt.index("storage/util.py") < prompt.index("<|file_sep|>app.py\n<|fim_prefix|>")
        assert prompt.endswith("<|fim_middle|>")
        explained = await _command(client, "qwen.explainContext", uri, {"line": line, "character": 28})
        paths = {s["path"] for s in explained["snippets"]}
        assert "storage/util.py" in paths


async def test_secrets_never_reach_a_prompt(tmp_path: Path, tiny_model: Path) -> None:
    root = _workspace(tmp_path)
    async with session(root, init_options={"model": str(tiny_model), **FAST}) as (client, rec):
        await rec.wait_state("ready")
        await _wait_index(client)
        # the user even has the secret files open in the editor
        env_uri = open_doc(client, root / ".env", SECRET_ENV, "dotenv")
        open_doc(client, root / "id_rsa", PRIVATE_KEY, "plaintext")
        uri = open_doc(client, root / "app.py", MAIN)
        prompts = []
        for line, col in ((0, 10), (4, 20), (5, 28), (6, 17)):
            await client.text_document_inline_completion_async(inline_params(uri, line, col))
            prompts.append((await _command(client, "qwen.lastPrompt"))["prompt"])
        for prompt in prompts:
            assert "sk-live" not in prompt and "hunter2" not in prompt
            assert "PRIVATE KEY" not in prompt and "b3BlbnNzaC" not in prompt
            assert ".env" not in prompt and "id_rsa" not in prompt and "deploy.key" not in prompt
        # and no completion is made inside a secret file
        result = await client.text_document_inline_completion_async(inline_params(env_uri, 1, 0))
        assert result is not None and not result.items
        stats = await _command(client, "qwen.stats")
        assert stats["last"]["outcome"] != "shown"


async def test_typing_in_one_place_reuses_the_context_part(tmp_path: Path, tiny_model: Path) -> None:
    root = _workspace(tmp_path)
    async with session(root, init_options={"model": str(tiny_model), **FAST}) as (client, rec):
        await rec.wait_state("ready")
        await _wait_index(client)
        uri = open_doc(client, root / "app.py", MAIN)
        line = MAIN.splitlines().index('    record["sum"] = compute_')
        col = len('    record["sum"] = compute_')
        await client.text_document_inline_completion_async(inline_params(uri, line, col))
        first = (await _command(client, "qwen.stats"))["last"]
        assert first["context_tokens"] > 0
        version = 1
        for ch in "checksum(blob)":
            version += 1
            insert(client, uri, version, line, col, ch)
            col += 1
            await client.text_document_inline_completion_async(inline_params(uri, line, col))
            last = (await _command(client, "qwen.stats"))["last"]
            # everything up to the cursor line comes from the KV cache: header, context, the file head
            # the context may change between keystrokes, but only by an idle refresh that evaluated it
            # already: the keystroke never pays for it
            assert last["reused"] >= last["context_tokens"] + 10
            assert last["evaluated"] < last["prompt_tokens"] - last["context_tokens"]
        stats = await _command(client, "qwen.stats")
        # the keystrokes were served the held selection; the context engine re-ranks in idle time only
        assert stats["contextHold"]["held"] >= 14
        assert stats["context"]["requests"] >= 1
