"""Repair code actions end to end over stdio (pytest-lsp), with a scripted Instruct engine: the action is
listed at once (< 50 ms, no generation), resolved with progress into a minimal edit that applies
cleanly, rejected with a reason the user sees, refused on a stale document, cancellable, and applied
through `qwen.applyFix` + `workspace/applyEdit` for clients without `codeAction.resolveSupport`."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Union

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pytest_lsp import LanguageClient
from pytest_lsp.client import make_test_lsp_client

from qwen_ls import protocol
from tests.conftest import needs_llama
from tests.e2e.lsp import capabilities, insert, open_doc
from tests.e2e.lsp import session as real_session

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

SCRIPT = Path(__file__).with_name("repair_server.py")
TEXT = "def mean(xs):\n    if not xs\n        return 0.0\n    return sum(xs) / len(xs)\n"
FIXED = TEXT.replace("if not xs\n", "if not xs:\n")
ANSWER = (
    "The colon was missing.\n```python\ndef mean(xs):\n    if not xs:\n        return 0.0\n"
    "    return sum(xs) / len(xs)\n```"
)
DIAG = types.Diagnostic(
    range=types.Range(start=types.Position(line=1, character=4), end=types.Position(line=1, character=13)),
    message="expected ':'",
    source="Pylance",
    severity=types.DiagnosticSeverity.Error,
)
OPTIONS = {"enable": False, "repair": {"model": "scripted-instruct"}}


@asynccontextmanager
async def session(
    tmp_path: Path, answer: str = ANSWER, delay: float = 0.0, resolve: bool = True
) -> AsyncIterator[tuple[LanguageClient, Path, list[types.ApplyWorkspaceEditParams]]]:
    prompts = tmp_path / "prompts.txt"
    env = {
        **os.environ,
        "QWEN_LS_TEST_REPAIR_ANSWER": answer,
        "QWEN_LS_TEST_REPAIR_DELAY": str(delay),
        "QWEN_LS_TEST_REPAIR_PROMPTS": str(prompts),
    }
    client = make_test_lsp_client()
    applied: list[types.ApplyWorkspaceEditParams] = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    await client.start_io(sys.executable, str(SCRIPT), env=env)
    root = tmp_path / "proj"
    root.mkdir()
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=capabilities(resolve=resolve),
                root_uri=root.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="proj")],
                initialization_options=OPTIONS,
            )
        )
        yield client, prompts, applied
    finally:
        try:
            await asyncio.wait_for(client.shutdown_session(), 20)
        finally:
            await client.stop()


def _params(uri: str, diagnostics: list[types.Diagnostic]) -> types.CodeActionParams:
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=diagnostics[0].range
        if diagnostics
        else types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
        context=types.CodeActionContext(diagnostics=diagnostics),
    )


def _apply(text: str, edits: list[types.TextEdit]) -> str:
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def off(p: types.Position) -> int:
        return offsets[p.line] + p.character  # ASCII test text: UTF-16 units are str indices

    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: off(e.range.start)] + e.new_text + text[off(e.range.end) :]
    return text


def _edits(edit: types.WorkspaceEdit | None, uri: str) -> list[types.TextEdit]:
    assert edit is not None
    if edit.document_changes:
        out: list[types.TextEdit] = []
        for change in edit.document_changes:
            assert isinstance(change, types.TextDocumentEdit) and change.text_document.uri == uri
            out.extend(e for e in change.edits if isinstance(e, types.TextEdit))
        return out
    assert edit.changes is not None
    return list(edit.changes[uri])


def _parse_code_actions_like_an_editor(client: LanguageClient) -> None:
    """lsprotocol structures a CodeAction that carries a `command` as a Command (the union is ambiguous
    to it); editors read the JSON. Teach the test client to tell them apart the way they do."""
    converter = client.protocol._converter
    union: Any = Union[types.Command, types.CodeAction]  # noqa: UP007 (the exact type lsprotocol uses)

    def structure(obj: Any, _: Any) -> Any:
        if isinstance(obj.get("command"), dict) or any(
            k in obj for k in ("kind", "edit", "data", "diagnostics")
        ):
            return converter.structure(obj, types.CodeAction)
        return converter.structure(obj, types.Command)

    converter.register_structure_hook(union, structure)


def _messages(client: LanguageClient) -> list[str]:
    return [m.message for m in client.messages]


async def test_action_is_listed_at_once_and_resolves_to_a_clean_minimal_edit(tmp_path: Path) -> None:
    async with session(tmp_path) as (client, prompts, _):
        uri = open_doc(client, tmp_path / "proj" / "m.py", TEXT)
        times = []
        for _ in range(9):
            t0 = time.perf_counter()
            actions = await client.text_document_code_action_async(_params(uri, [DIAG]))
            times.append(time.perf_counter() - t0)
        assert statistics.median(times) < 0.050, times
        assert actions is not None and len(actions) == 1
        action = actions[0]
        assert isinstance(action, types.CodeAction)
        assert action.title == "Fix with Qwen: expected ':'"
        assert action.kind == types.CodeActionKind.QuickFix
        assert action.edit is None and action.command is None
        assert not prompts.exists()  # nothing was generated for the list

        resolved = await client.code_action_resolve_async(action)
        edits = _edits(resolved.edit, uri)
        assert len(edits) == 1 and edits[0].new_text == ":"
        assert _apply(TEXT, edits) == FIXED
        prompt = prompts.read_text()
        assert prompt.startswith("<|im_start|>system\n") and "expected ':' [Pylance]" in prompt
        assert prompt.rstrip("=\n").endswith("<|im_start|>assistant")
        kinds = [getattr(p, "kind", None) for reports in client.progress_reports.values() for p in reports]
        assert "begin" in kinds and "end" in kinds


async def test_an_unverified_candidate_is_not_offered_and_the_user_is_told_why(tmp_path: Path) -> None:
    broken = (
        "```python\ndef mean(xs):\n    if not xs:\n        return (0.0\n    return sum(xs) / len(xs)\n```"
    )
    async with session(tmp_path, answer=broken) as (client, _, _):
        uri = open_doc(client, tmp_path / "proj" / "m.py", TEXT)
        actions = await client.text_document_code_action_async(_params(uri, [DIAG]))
        assert actions
        assert isinstance(actions[0], types.CodeAction)
        resolved = await client.code_action_resolve_async(actions[0])
        assert resolved.edit is None
        await asyncio.sleep(0.2)
        told = [m for m in _messages(client) if "no fix offered" in m]
        assert told and ("syntax" in told[0] or "compile" in told[0]), _messages(client)


async def test_a_fix_for_an_older_version_is_refused(tmp_path: Path) -> None:
    async with session(tmp_path) as (client, prompts, _):
        uri = open_doc(client, tmp_path / "proj" / "m.py", TEXT)
        actions = await client.text_document_code_action_async(_params(uri, [DIAG]))
        assert actions
        insert(client, uri, 2, 3, 0, "    # typed meanwhile\n")
        assert isinstance(actions[0], types.CodeAction)
        resolved = await client.code_action_resolve_async(actions[0])
        assert resolved.edit is None
        await asyncio.sleep(0.2)
        assert any("changed since the fix was requested" in m for m in _messages(client))
        assert not prompts.exists()


async def test_resolve_can_be_cancelled(tmp_path: Path) -> None:
    async with session(tmp_path, delay=30) as (client, prompts, _):
        uri = open_doc(client, tmp_path / "proj" / "m.py", TEXT)
        actions = await client.text_document_code_action_async(_params(uri, [DIAG]))
        assert actions
        assert isinstance(actions[0], types.CodeAction)
        task = asyncio.ensure_future(client.code_action_resolve_async(actions[0]))
        for _ in range(100):
            if prompts.exists():
                break
            await asyncio.sleep(0.05)
        assert prompts.exists()  # generation started
        t0 = time.perf_counter()
        for msg_id in list(client.protocol._request_futures):
            client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
        with pytest.raises(Exception, match=r"(?i)cancel"):
            await asyncio.wait_for(task, 10)
        assert time.perf_counter() - t0 < 5
        # the engine lane is free again: a stats request answers at once
        stats = await asyncio.wait_for(
            client.workspace_execute_command_async(types.ExecuteCommandParams(command="qwen.stats")), 5
        )
        assert stats is not None


async def test_clients_without_resolve_get_a_command_that_applies_the_edit(tmp_path: Path) -> None:
    async with session(tmp_path, resolve=False) as (client, _, applied):
        _parse_code_actions_like_an_editor(client)
        uri = open_doc(client, tmp_path / "proj" / "m.py", TEXT)
        actions = await client.text_document_code_action_async(_params(uri, [DIAG]))
        assert actions and isinstance(actions[0], types.CodeAction)
        command = actions[0].command
        assert command is not None and command.command == "qwen.applyFix"
        result: Any = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
        )
        assert result["applied"] is True
        assert len(applied) == 1
        assert _apply(TEXT, _edits(applied[0].edit, uri)) == FIXED


async def test_no_diagnostics_no_actions_and_only_filters(tmp_path: Path) -> None:
    async with session(tmp_path) as (client, _, _):
        uri = open_doc(client, tmp_path / "proj" / "m.py", TEXT)
        assert not await client.text_document_code_action_async(_params(uri, []))
        params = _params(uri, [DIAG])
        params.context.only = [types.CodeActionKind.Refactor]
        assert not await client.text_document_code_action_async(params)


@needs_llama
async def test_real_server_with_a_synthetic_instruct_model_rejects_noise_with_a_reason(
    tmp_path: Path, tiny_model: Path, tiny_instruct_model: Path
) -> None:
    """The real `qwen-ls serve`: the Instruct GGUF loads on first use, its chat template is applied, and
    the random-weight answer is not offered; the user is told why."""
    root = tmp_path / "proj"
    root.mkdir()
    options = {
        "model": str(tiny_model),
        "engine": {"nCtx": 2048},
        "repair": {"model": str(tiny_instruct_model), "maxTokens": 48, "contextLines": 0},
    }
    async with real_session(root, init_options=options) as (client, rec):
        await rec.wait_state("ready")
        uri = open_doc(client, root / "m.py", TEXT)
        actions = await client.text_document_code_action_async(_params(uri, [DIAG]))
        assert actions and isinstance(actions[0], types.CodeAction)
        resolved = await asyncio.wait_for(client.code_action_resolve_async(actions[0]), 60)
        assert resolved.edit is None
        await asyncio.sleep(0.2)
        told = [m for m in _messages(client) if "no fix offered" in m]
        assert told, _messages(client)


async def _command(client: LanguageClient, command: str, *arguments: object) -> Any:
    return await asyncio.wait_for(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command, arguments=list(arguments))
        ),
        10,
    )


async def test_command_answers_read_back_as_the_declared_protocol_types(tmp_path: Path) -> None:
    async with session(tmp_path, resolve=False) as (client, _, applied):
        _parse_code_actions_like_an_editor(client)
        uri = open_doc(client, tmp_path / "proj" / "m.py", TEXT)
        stats = protocol.CONVERTER.structure(await _command(client, protocol.STATS), protocol.StatsResult)
        assert stats.model.state == "disabled" and stats.summary["requests"] == 0
        recent = await _command(client, protocol.STATS, {"recent": 5})
        assert protocol.CONVERTER.structure(recent, protocol.StatsResult).recent == []
        assert protocol.CONVERTER.structure(
            await _command(client, protocol.LAST_PROMPT), protocol.LastPromptResult
        ) == protocol.LastPromptResult(prompt=None)
        actions = await client.text_document_code_action_async(_params(uri, [DIAG]))
        assert actions and isinstance(actions[0], types.CodeAction) and actions[0].command is not None
        arguments = actions[0].command.arguments or []
        fix = protocol.structure_arguments(protocol.ApplyFixArguments, protocol.APPLY_FIX, arguments)
        assert fix.data.uri == uri and fix.data.diagnostic.message == DIAG.message
        result = await _command(client, protocol.APPLY_FIX, *arguments)
        assert protocol.CONVERTER.structure(result, protocol.ApplyFixResult).applied is True
        assert len(applied) == 1


@pytest.mark.parametrize(
    ("command", "arguments", "field"),
    [
        (protocol.APPLY_FIX, [{"uri": "file:///proj/m.py"}], "diagnostic"),
        (protocol.APPLY_FIX, [], "data"),
        (protocol.APPLY_FIX, [{"uri": "file:///proj/m.py", "diagnostic": {"message": "x"}}], "range"),
        (protocol.EXPLAIN_CONTEXT, ["file:///proj/m.py"], "position"),
        (protocol.EXPLAIN_CONTEXT, ["file:///proj/m.py", {"line": "one", "character": 0}], "line"),
        (protocol.STATS, [{"recent": "many"}], "recent"),
        (protocol.STATS, [{}, {}], "takes 1"),
        (protocol.LAST_PROMPT, [1], "takes 0"),
    ],
)
async def test_a_malformed_command_is_answered_invalid_params_naming_the_field(
    tmp_path: Path, command: str, arguments: list[object], field: str
) -> None:
    async with session(tmp_path) as (client, _, applied):
        open_doc(client, tmp_path / "proj" / "m.py", TEXT)
        with pytest.raises(JsonRpcInvalidParams, match=field) as info:
            await _command(client, command, *arguments)
        assert info.value.code == -32602 and command in str(info.value)
        assert await _command(client, protocol.STATS) is not None  # the server is still there
        assert not applied
