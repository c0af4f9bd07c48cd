"""textDocument/codeAction, codeAction/resolve and the `qwen.applyFix` command: verified repair quick fixes.

`codeAction` answers at once with one "Fix with Qwen: <message>" quick fix per diagnostic and generates
nothing. The fix is written in `codeAction/resolve` (clients with `codeAction.resolveSupport` for
`edit`), or, for clients without it (Vim + ALE, Emacs + eglot 1.9), in the `qwen.applyFix` command the
action carries, which applies the edit with `workspace/applyEdit`. Both run the same verified repair,
with work-done progress, and refuse when the document changed since the action was made.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lsprotocol import converters, types

from qwen_ls.features.context_glue import uri_path
from qwen_ls.repair.data import Diagnostic, RepairResult, TextEdit
from qwen_ls.repair.pipeline import RepairRequest, action_title, fingerprint, stale_reason
from qwen_ls.repair.service import RepairService
from qwen_ls.repair.text import line_offsets, position_at

# A runtime import: pygls resolves command handlers' annotations to structure their arguments.
from qwen_ls.server import Progress, QwenLanguageServer
from qwen_ls.syntax import normalize_language

log = logging.getLogger(__name__)

APPLY_FIX_COMMAND = "qwen.applyFix"
_converter = converters.get_converter()


def _wants_quickfix(only: Sequence[types.CodeActionKind | str] | None) -> bool:
    """Whether `context.only` admits quick fixes (kinds are hierarchical: `quickfix` or a parent)."""
    if not only:
        return True
    quickfix = types.CodeActionKind.QuickFix.value
    kinds = [k.value if isinstance(k, types.CodeActionKind) else str(k) for k in only]
    return any(kind in ("", quickfix) or quickfix.startswith(f"{kind}.") for kind in kinds)


def make_actions(ls: QwenLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    """One quick fix per diagnostic, without generating anything (the list must appear at once)."""
    settings = ls.settings.repair
    if not settings.enabled or not _wants_quickfix(params.context.only):
        return []
    uri = params.text_document.uri
    try:
        doc = ls.workspace.get_text_document(uri)
    except Exception:
        return []
    line = params.range.start.line
    nearest = sorted(params.context.diagnostics, key=lambda d: abs(d.range.start.line - line))
    diagnostics = nearest[: settings.max_diagnostics]
    if not diagnostics:
        return []
    resolve = bool(ls.state.get("resolve_support"))
    actions = []
    for diag in diagnostics:
        data: dict[str, Any] = {
            "uri": uri,
            "version": doc.version,
            "diagnostic": _converter.unstructure(diag),
        }
        if doc.version is None:
            data["hash"] = fingerprint(doc.source)
        title = _title(diag)
        action = types.CodeAction(
            title=title, kind=types.CodeActionKind.QuickFix, diagnostics=[diag], data=data
        )
        if not resolve:
            action.command = types.Command(title=title, command=APPLY_FIX_COMMAND, arguments=[data])
        actions.append(action)
    return actions


def _title(diag: types.Diagnostic) -> str:
    """`Fix with Qwen: <first line of the message, shortened>`."""
    return action_title(Diagnostic(0, 0, 0, 0, diag.message))


def core_diagnostic(doc: Any, diag: types.Diagnostic) -> Diagnostic:
    """The client's diagnostic with positions as Python string indices (by LSP line rules)."""
    text = doc.source
    offsets = line_offsets(text)
    start = min(doc.offset_at_position(diag.range.start), len(text))
    end = max(min(doc.offset_at_position(diag.range.end), len(text)), start)
    s_line, s_char = position_at(offsets, start)
    e_line, e_char = position_at(offsets, end)
    code = str(diag.code) if diag.code is not None else None
    severity = int(diag.severity) if diag.severity is not None else None
    return Diagnostic(s_line, s_char, e_line, e_char, diag.message, code, diag.source, severity)


def workspace_edit(ls: QwenLanguageServer, doc: Any, edits: tuple[TextEdit, ...]) -> types.WorkspaceEdit:
    """The edits in the client's position encoding; versioned when the client supports it."""
    text = doc.source
    offsets = line_offsets(text)
    lsp_edits = []
    for e in edits:
        start = offsets[e.start_line] + e.start_character
        end = offsets[e.end_line] + e.end_character if e.end_line < len(offsets) else len(text)
        lsp_edits.append(
            types.TextEdit(
                range=types.Range(
                    start=doc.client_position_at_offset(start), end=doc.client_position_at_offset(end)
                ),
                new_text=e.new_text,
            )
        )
    ws_caps = ls.client_capabilities.workspace
    versioned = bool(ws_caps and ws_caps.workspace_edit and ws_caps.workspace_edit.document_changes)
    if versioned:
        return types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=doc.uri, version=doc.version
                    ),
                    edits=list(lsp_edits),
                )
            ]
        )
    return types.WorkspaceEdit(changes={doc.uri: lsp_edits})


async def _snippets(
    ls: QwenLanguageServer, path: Path | None, text: str, diag: Diagnostic
) -> tuple[str, ...]:
    """Relevant code from other files (the repository context), when it is on; never fails a fix."""
    budget = ls.settings.repair.context_tokens
    if ls.context is None or path is None or budget <= 0:
        return ()
    offsets = line_offsets(text)
    offset = offsets[min(diag.start_line, len(offsets) - 1)] + diag.start_character
    try:
        result = await asyncio.to_thread(ls.context.retrieve, path, text, offset, budget)
    except Exception:
        log.debug("no context for the repair prompt", exc_info=True)
        return ()
    return tuple(f"{s.path} (lines {s.start_line}-{s.end_line}):\n{s.text}" for s in result.snippets)


async def compute_fix(ls: QwenLanguageServer, data: Any) -> tuple[types.WorkspaceEdit | None, str]:
    """Write, verify and diff a fix for the action's diagnostic: (the edit, or None; the reason)."""
    if not isinstance(data, dict) or "uri" not in data or "diagnostic" not in data:
        return None, "the action carries no repair data"
    uri = str(data["uri"])
    try:
        doc = ls.workspace.get_text_document(uri)
    except Exception:
        return None, "the document is not open"
    stale = stale_reason(data.get("version"), doc.version, data.get("hash"), doc.source)
    if stale:
        return None, stale
    try:
        diag = _converter.structure(data["diagnostic"], types.Diagnostic)
    except Exception:
        return None, "the action's diagnostic could not be read"
    path = uri_path(uri)
    language = normalize_language(doc.language_id, path)
    diagnostic = core_diagnostic(doc, diag)
    request = RepairRequest(
        text=doc.source,
        language=language,
        diagnostics=(diagnostic,),
        path=ls.context.relative_path(path)
        if ls.context is not None and path is not None
        else (path.name if isinstance(path, Path) else uri),
        version=doc.version,
        snippets=await _snippets(ls, path, doc.source, diagnostic),
    )
    progress = Progress(ls, f"qwen-ls: {_title(diag)}")
    outcome = "cancelled"
    try:
        service: RepairService = ls.repair
        result: RepairResult = await service.fix(
            request, ls.settings.repair, ls.settings.engine.embedded(), report=progress.report
        )
        outcome = "fixed" if result.accepted else "no fix"
    finally:
        progress.end(outcome)
    log.info(
        "repair %s line %d: %s (%s)",
        request.path,
        request.diagnostics[0].start_line + 1,
        "accepted" if result.accepted else "rejected",
        result.reason,
    )
    if not result.accepted:
        return None, result.reason
    current = ls.workspace.get_text_document(uri)
    if current.version != request.version or current.source != request.text:
        return None, "the document changed while the fix was being written; ask again"
    return workspace_edit(ls, current, result.edits), result.reason


def _tell_no_fix(ls: QwenLanguageServer, title: str, reason: str) -> None:
    message = f"qwen-ls: no fix offered for “{title.removeprefix('Fix with Qwen: ')}”: {reason}"
    try:
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=message))
    except Exception:
        log.debug("could not show message", exc_info=True)


def register(server: QwenLanguageServer) -> None:
    if server.repair is None:
        server.repair = RepairService(
            get_lane=lambda: server.lane,
            get_completion_engine=lambda: (
                server.models.engine if server.models and server.models.ready else None
            ),
        )

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix], resolve_provider=True),
    )
    def code_action(ls: QwenLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return make_actions(ls, params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve_code_action(ls: QwenLanguageServer, action: types.CodeAction) -> types.CodeAction:
        edit, reason = await compute_fix(ls, action.data)
        if edit is None:
            _tell_no_fix(ls, action.title, reason)
            return action
        action.edit = edit
        return action

    @server.command(APPLY_FIX_COMMAND)
    async def apply_fix(ls: QwenLanguageServer, *args: Any) -> dict[str, Any]:
        data = args[0] if args else None
        title = f"Fix with Qwen: {data['diagnostic'].get('message', '')}" if isinstance(data, dict) else "Fix"
        edit, reason = await compute_fix(ls, data)
        if edit is None:
            _tell_no_fix(ls, title, reason)
            return {"applied": False, "reason": reason}
        result = await ls.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=edit, label="Fix with Qwen")
        )
        if not result.applied:
            refused = result.failure_reason or "the editor did not apply the edit"
            _tell_no_fix(ls, title, refused)
            return {"applied": False, "reason": refused}
        return {"applied": True, "reason": reason}
