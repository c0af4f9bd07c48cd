"""Protocol fuzz over raw stdio bytes: every malformed or unusual input gets its JSON-RPC answer, and a
valid inline completion is still answered afterwards (issue 15). Every byte the server writes must be a
frame holding strict JSON (`RawClient`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import needs_llama
from tests.e2e.raw_lsp import RawClient, frame

pytestmark = [needs_llama, pytest.mark.slow, pytest.mark.timeout(240)]

TEXT = "".join(f"word{i} alpha beta\n" for i in range(20))
OPTIONS = {"completion": {"debounceMs": 0, "maxTokens": 4, "deadlineMs": 0}}
CAPS: dict[str, Any] = {
    "textDocument": {
        "inlineCompletion": {},
        "codeAction": {"resolveSupport": {"properties": ["edit"]}},
    },
    "window": {"workDoneProgress": True},
}


def _inline(uri: Any, line: Any = 0, character: Any = 0, trigger: Any = 1) -> dict[str, Any]:
    return {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": trigger},
    }


async def _server(
    tmp_path: Path, tiny_model: Path, text: str = TEXT, completion: dict[str, Any] | None = None
) -> tuple[RawClient, str]:
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    (root / "notes.txt").write_bytes(text.encode())
    client = await RawClient.start(["--model", str(tiny_model)])
    options = {"completion": {**OPTIONS["completion"], **(completion or {})}}
    await client.initialize(root, options, CAPS)
    uri = (root / "notes.txt").as_uri()
    doc = {"uri": uri, "languageId": "plaintext", "version": 1, "text": text}
    client.notify("textDocument/didOpen", {"textDocument": doc})
    return client, uri


async def _alive(client: RawClient, uri: str, timeout: float = 20) -> bool:
    """Liveness: a valid inline completion is answered with a result."""
    answer = await client.call("textDocument/inlineCompletion", _inline(uri, 1, 0), timeout)
    return answer is not None and "result" in answer


def _popups(client: RawClient) -> list[str]:
    return [
        m["params"]["message"]
        for m in client.messages
        if m.get("method") == "window/showMessage" and "Error in server" in m["params"].get("message", "")
    ]


# -- 1. framing -----------------------------------------------------------------------------------

_PROBE = {"jsonrpc": "2.0", "id": 77, "method": "textDocument/inlineCompletion"}


def _framing_case(name: str, uri: str) -> bytes:
    body = json.dumps({**_PROBE, "params": _inline(uri)}).encode()
    n = len(body)
    return {
        "no-content-length": b"Content-Type: application/vscode-jsonrpc\r\n\r\n" + body,
        "non-numeric-content-length": b"Content-Length: twelve\r\n\r\n" + body,
        "lf-only-headers": b"Content-Length: %d\n\n" % n + body,
        "content-length-larger-by-10": b"Content-Length: %d\r\n\r\n" % (n + 10) + body,
        "content-length-larger-by-500": b"Content-Length: %d\r\n\r\n" % (n + 500) + body,
        "content-length-smaller": b"Content-Length: %d\r\n\r\n" % (n - 7) + body,
        "garbage-between-frames": b"\x00\xffhello\r\n" + frame(body),
    }[name]


@pytest.mark.parametrize(
    "case",
    [
        "no-content-length",
        "non-numeric-content-length",
        "lf-only-headers",
        "content-length-larger-by-10",
        "content-length-larger-by-500",
        "content-length-smaller",
        "garbage-between-frames",
    ],
)
async def test_broken_frame_then_the_server_still_answers(
    tmp_path: Path, tiny_model: Path, case: str
) -> None:
    client, uri = await _server(tmp_path, tiny_model)
    try:
        client.send_raw(_framing_case(case, uri))
        assert await _alive(client, uri), f"{case}: no answer to a valid request after the broken frame"
        assert not client.stray, client.stray[:3]
        if case in ("lf-only-headers", "garbage-between-frames", "content-length-larger-by-10"):
            assert await client.response(77, 1) is not None  # the framed request itself was read
    finally:
        await client.close()


# -- 2, 5, 6. messages --------------------------------------------------------------------------

INVALID_PARAMS = -32602
INVALID_REQUEST = -32600
PARSE_ERROR = -32700


def _message_cases(uri: str) -> list[tuple[str, Any, int, str]]:
    """(class, message or raw body, expected error code, a word the error message must hold)."""
    req = {"jsonrpc": "2.0", "id": 0, "method": "textDocument/inlineCompletion"}
    bad_pos = [
        ("position as a string", _inline(uri) | {"position": "0:0"}, "position"),
        ("negative line", _inline(uri, -1, 0), "line"),
        ("negative character", _inline(uri, 0, -3), "character"),
        ("line 2^31", _inline(uri, 2**31, 0), "line"),
        ("character 2^64", _inline(uri, 0, 2**64), "character"),
        ("position null", _inline(uri) | {"position": None}, "position"),
        ("position missing", {k: v for k, v in _inline(uri).items() if k != "position"}, "position"),
        ("context null", _inline(uri) | {"context": None}, "context"),
        (
            "textDocument missing",
            {k: v for k, v in _inline(uri).items() if k != "textDocument"},
            "textDocument",
        ),
        ("triggerKind outside the enum", _inline(uri, trigger=9), "triggerKind"),
        ("uri 42", _inline(42), "uri"),
        ("uri empty", _inline(""), "uri"),
        ("never-opened uri", _inline(uri.replace("notes", "never")), "not open"),
        ("line past the end", _inline(uri, 500, 0), "line"),
    ]
    cases: list[tuple[str, Any, int, str]] = [
        (name, req | {"params": params}, INVALID_PARAMS, word) for name, params, word in bad_pos
    ]
    cases += [
        ("params null", req | {"params": None}, INVALID_PARAMS, "params"),
        ("params an array", req | {"params": []}, INVALID_PARAMS, "params"),
        ("params omitted", req, INVALID_PARAMS, "params"),
        (
            "codeAction without range",
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "textDocument/codeAction",
                "params": {"textDocument": {"uri": uri}, "context": {"diagnostics": []}},
            },
            INVALID_PARAMS,
            "range",
        ),
        (
            "codeAction diagnostics a string",
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "textDocument/codeAction",
                "params": {
                    "textDocument": {"uri": uri},
                    "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                    "context": {"diagnostics": "E1"},
                },
            },
            INVALID_PARAMS,
            "diagnostics",
        ),
        (
            "codeAction/resolve {}",
            {"jsonrpc": "2.0", "id": 0, "method": "codeAction/resolve", "params": {}},
            INVALID_PARAMS,
            "title",
        ),
        (
            "executeCommand command null",
            {"jsonrpc": "2.0", "id": 0, "method": "workspace/executeCommand", "params": {"command": None}},
            INVALID_PARAMS,
            "command",
        ),
        (
            "explainContext no arguments",
            _command("qwen.explainContext", []),
            INVALID_PARAMS,
            "explainContext",
        ),
        (
            "explainContext bad position",
            _command("qwen.explainContext", [uri, {"line": "a"}]),
            INVALID_PARAMS,
            "position",
        ),
        (
            "explainContext position a string",
            _command("qwen.explainContext", [uri, "3:4"]),
            INVALID_PARAMS,
            "position",
        ),
        ("applyFix a number", _command("qwen.applyFix", [42]), INVALID_PARAMS, "applyFix"),
        (
            "applyFix diagnostic a string",
            _command("qwen.applyFix", [{"uri": uri, "diagnostic": "x"}]),
            INVALID_PARAMS,
            "diagnostic",
        ),
        (
            "unknown method",
            {"jsonrpc": "2.0", "id": 0, "method": "qwen/noSuchThing", "params": {}},
            -32601,
            "qwen/noSuchThing",
        ),
        ("body not JSON", b"{this is not json", PARSE_ERROR, "Parse error"),
        ("body not UTF-8", b'{"jsonrpc": "2.0", "id": 5, "method": "\xff\xfe"}', PARSE_ERROR, "UTF-8"),
        ("NaN literal", b'{"jsonrpc": "2.0", "id": NaN, "method": "shutdown"}', PARSE_ERROR, "Parse error"),
        ("a JSON array", b"[]", INVALID_REQUEST, "array"),
        ("a batch", b'[{"jsonrpc": "2.0", "id": 1, "method": "shutdown"}]', INVALID_REQUEST, "array"),
        ("a JSON scalar", b"42", INVALID_REQUEST, "object"),
        ("missing method", {"jsonrpc": "2.0", "id": 0, "params": {}}, INVALID_REQUEST, "method"),
        ("method not a string", {"jsonrpc": "2.0", "id": 0, "method": 5}, INVALID_REQUEST, "method"),
        ("jsonrpc 1.0", {"jsonrpc": "1.0", "id": 0, "method": "qwen/x"}, INVALID_REQUEST, "jsonrpc"),
        (
            "id 1e400",
            b'{"jsonrpc": "2.0", "id": 1e400, "method": "textDocument/inlineCompletion"}',
            INVALID_REQUEST,
            "id",
        ),
        (
            "id an object",
            {"jsonrpc": "2.0", "id": {"a": 1}, "method": "textDocument/inlineCompletion"},
            INVALID_REQUEST,
            "id",
        ),
        (
            "second initialize",
            {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"capabilities": {}}},
            INVALID_REQUEST,
            "initialize",
        ),
    ]
    return cases


def _command(name: str, arguments: list[Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "workspace/executeCommand",
        "params": {"command": name, "arguments": arguments},
    }


async def test_malformed_messages_get_their_error_and_the_server_goes_on(
    tmp_path: Path, tiny_model: Path
) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    client = await RawClient.start(["--model", str(tiny_model)])
    failures: list[str] = []
    try:
        # before initialize: LSP asks for -32002 for requests; notifications are dropped
        # (the first answer also waits for the process to start: generous on a loaded machine)
        early = await client.call("textDocument/inlineCompletion", _inline("file:///x"), 90)
        if early is None or early.get("error", {}).get("code") != -32002:
            failures.append(f"request before initialize: {early}")
        (root / "notes.txt").write_text(TEXT)
        await client.initialize(root, OPTIONS, CAPS)
        uri = (root / "notes.txt").as_uri()
        client.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "plaintext", "version": 1, "text": TEXT}},
        )
        # a document with a lone surrogate (JSON allows the escape; no Unicode text holds one)
        lone = uri.replace("notes", "lone")
        # (written by hand: json.dumps cannot write a lone surrogate escape)
        item = f'{{"uri":"{lone}","languageId":"plaintext","version":1,"text":"a\\ud800b\\n"}}'
        body = f'{{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{{"textDocument":{item}}}}}'
        client.send_raw(frame(body.encode()))
        cases = _message_cases(uri)
        cases.append(
            (
                "lone surrogate in the text",
                {
                    "jsonrpc": "2.0",
                    "id": 0,
                    "method": "textDocument/inlineCompletion",
                    "params": _inline(lone, 0, 1),
                },
                INVALID_PARAMS,
                "surrogate",
            )
        )
        # all at once, each followed by a valid request (answered even when superseded by the next)
        sent: list[tuple[str, int, str, Any, int]] = []
        for i, (name, message, code, word) in enumerate(cases):
            msg_id = 5000 + i
            if isinstance(message, dict) and message.get("id") == 0:
                message = message | {"id": msg_id}
            expect_id = msg_id if isinstance(message, dict) and message.get("id") == msg_id else None
            client.send(message)
            sent.append(
                (
                    name,
                    code,
                    word,
                    expect_id,
                    client.request("textDocument/inlineCompletion", _inline(uri, 1, 0)),
                )
            )
        live_ids = {live for *_, live in sent}
        await client.wait_for(lambda m: False, 0)  # let the reader catch up
        for _ in range(120):
            answered = {m.get("id") for m in client.messages if "method" not in m}
            if live_ids <= answered:
                break
            await asyncio.sleep(0.5)
        errors_by_id: dict[Any, list[dict[str, Any]]] = {}
        for m in client.messages:
            if "method" not in m and "error" in m:
                errors_by_id.setdefault(m.get("id"), []).append(m["error"])
        null_errors = list(errors_by_id.get(None, []))
        for name, code, word, expect_id, live in sent:
            if expect_id is None:
                match = next(
                    (e for e in null_errors if e["code"] == code and word.lower() in e["message"].lower()),
                    None,
                )
                if match is not None:
                    null_errors.remove(match)
            else:
                found = errors_by_id.get(expect_id, [])
                match = (
                    found[0]
                    if found and found[0]["code"] == code and word.lower() in found[0]["message"].lower()
                    else None
                )
            if match is None:
                got = (
                    errors_by_id.get(expect_id) if expect_id is not None else "no matching error with id null"
                )
                failures.append(f"{name}: expected {code} naming {word!r}, got {got}")
            if not any(m.get("id") == live and "result" in m for m in client.messages):
                failures.append(f"{name}: the valid request after it was not answered")
        if _popups(client):
            failures.append(f"'Error in server' shown to the user: {_popups(client)[:3]}")
        if client.stray:
            failures.append(f"non-JSON-RPC bytes on stdout: {client.stray[:3]}")
    finally:
        await client.close()
    assert not failures, "\n".join(failures)


# -- 3, 7. shutdown and exit --------------------------------------------------------------------


async def test_requests_after_shutdown_are_invalid_and_exit_is_zero(tmp_path: Path, tiny_model: Path) -> None:
    client, uri = await _server(tmp_path, tiny_model)
    answer = await client.call("shutdown", None, 20)
    assert answer is not None and "result" in answer and answer["result"] is None
    after = await client.call("textDocument/inlineCompletion", _inline(uri), 5)
    assert after is not None and after.get("error", {}).get("code") == INVALID_REQUEST, after
    again = await client.call("shutdown", None, 5)
    assert again is not None and again.get("error", {}).get("code") == INVALID_REQUEST, again
    client.notify("exit", None)
    code, _ = await client.close()
    assert code == 0


async def test_exit_without_shutdown_is_one_and_quiet(tmp_path: Path, tiny_model: Path) -> None:
    client, uri = await _server(tmp_path, tiny_model)
    assert await _alive(client, uri)
    client.notify("exit", None)
    await asyncio.wait_for(client.proc.wait(), 20)
    code, stderr = await client.close()
    assert code == 1, stderr[-3000:].decode(errors="replace")
    assert client.stderr_bytes < 200_000, f"{client.stderr_bytes} bytes of stderr"
    assert stderr.count(b"Traceback") == 0, stderr[-3000:].decode(errors="replace")


# -- 4. positions ------------------------------------------------------------------------------


async def test_positions_after_astral_and_non_terminator_characters(tmp_path: Path, tiny_model: Path) -> None:
    """(a) a last line with emoji, then a request at the start of the next line; (b) U+2028, U+2029,
    U+0085, form feed, vertical tab and \\x1c-\\x1e are not line ends: the prompt is cut exactly at the
    requested position of the true text."""
    text = "a = 1\u2028b = 2\x0cc\x85d\x1ce\x1df\x1eg\u2029h\vi\nword alpha beta\r\nlast 😀😀 😀\n"
    # no prefetch: the last prompt must be the request's own, not the one after its completion
    client, uri = await _server(tmp_path, tiny_model, text, {"prefetchTokens": 0})
    try:
        await client.wait_ready()
        # (a) line 3 is the empty line after the emoji line; and the issue's own case
        answer = await client.call("textDocument/inlineCompletion", _inline(uri, 3, 0), 20)
        assert answer is not None and "result" in answer, answer
        emoji = uri.replace("notes", "emoji")
        doc = {"uri": emoji, "languageId": "python", "version": 1, "text": "x = 1\n# 😀😀\n"}
        client.notify("textDocument/didOpen", {"textDocument": doc})
        answer = await client.call("textDocument/inlineCompletion", _inline(emoji, 2, 0), 20)
        assert answer is not None and "result" in answer, answer
        # (b) line 1, character 5 ("word |alpha"): the prefix ends right there
        answer = await client.call("textDocument/inlineCompletion", _inline(uri, 1, 5), 20)
        assert answer is not None and "result" in answer, answer
        prompt = await client.call(
            "workspace/executeCommand", {"command": "qwen.lastPrompt", "arguments": []}, 20
        )
        assert prompt is not None and "result" in prompt, prompt
        body = prompt["result"]["prompt"]
        prefix = body.split("<|fim_prefix|>")[-1].split("<|fim_suffix|>")[0]
        suffix = body.split("<|fim_suffix|>")[-1].split("<|fim_middle|>")[0]
        offset = text.index("word ") + len("word ")
        assert prefix.endswith(text[:offset][-12:]), prefix[-40:]
        assert suffix.startswith(text[offset:][:6]), suffix[:40]
        for item in answer["result"]["items"]:
            assert item["range"]["start"] == {"line": 1, "character": 5}
    finally:
        await client.close()


# -- 8. a 20 MB single-line file ----------------------------------------------------------------


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def test_a_huge_single_line_file_costs_almost_nothing(tmp_path: Path, tiny_model: Path) -> None:
    client, uri = await _server(tmp_path, tiny_model)
    try:
        await client.wait_ready()
        assert await _alive(client, uri)
        before = _rss_kib(client.proc.pid)
        huge_uri = uri.replace("notes", "huge")
        line = "x = 1; " * (20_000_000 // 7)
        doc = {"uri": huge_uri, "languageId": "javascript", "version": 1, "text": line}
        client.notify("textDocument/didOpen", {"textDocument": doc})
        assert await _alive(client, uri, 60)  # the 20 MB message itself has been read and handled
        loop = asyncio.get_running_loop()
        slowest = 0.0
        for k in range(5):
            end = {"line": 0, "character": len(line) + k}
            client.notify(
                "textDocument/didChange",
                {
                    "textDocument": {"uri": huge_uri, "version": 2 + k},
                    "contentChanges": [{"range": {"start": end, "end": end}, "text": "y"}],
                },
            )
            t0 = loop.time()
            answer = await client.call(
                "textDocument/inlineCompletion", _inline(huge_uri, 0, len(line) + k + 1), 30
            )
            slowest = max(slowest, loop.time() - t0)
            assert answer is not None and answer.get("result", {}).get("items") == [], answer
        # each keystroke and request costs far less than the 2-9 s it did (generous for a loaded machine)
        assert slowest < 1.5, f"slowest answer {slowest:.2f} s"
        client.notify("textDocument/didClose", {"textDocument": {"uri": huge_uri}})
        assert await _alive(client, uri)
        await asyncio.sleep(0.5)
        after = _rss_kib(client.proc.pid)
        assert after - before < 12_000, f"RSS {before} KiB before the file, {after} KiB after closing it"
    finally:
        await client.close()
