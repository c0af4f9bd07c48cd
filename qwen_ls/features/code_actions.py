"""textDocument/codeAction, codeAction/resolve and the `qwen.applyFix` command: verified repair quick fixes.

`codeAction` answers at once with one "Fix with Qwen: <message>" quick fix per diagnostic and generates
nothing. The fix is written in `codeAction/resolve` (clients with `codeAction.resolveSupport` for
`edit`), or, for clients without it (Vim + ALE, Emacs + eglot 1.9), in the `qwen.applyFix` command the
action carries, which applies the edit with `workspace/applyEdit`. Both run the same verified repair,
with work-done progress, and refuse when the document changed since the action was made. What an
action carries is `protocol.FixData`; a malformed `qwen.applyFix` call is answered with InvalidParams.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from qwen_ls import protocol
from qwen_ls.features.base import ClientFeatures, Feature
from qwen_ls.repair.data import Diagnostic, TextEdit
from qwen_ls.repair.pipeline import RepairRequest, action_title, fingerprint, stale_reason
from qwen_ls.repair.text import line_offsets, position_at
from qwen_ls.snapshot import uri_path
from qwen_ls.syntax import normalize_language

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from qwen_ls.server import QwenLanguageServer

log = logging.getLogger(__name__)


def _wants_quickfix(only: Sequence[types.CodeActionKind | str] | None) -> bool:
    """Whether `context.only` admits quick fixes (kinds are hierarchical: `quickfix` or a parent)."""
    if not only:
        return True
    quickfix = types.CodeActionKind.QuickFix.value
    kinds = [k.value if isinstance(k, types.CodeActionKind) else str(k) for k in only]
    return any(kind in ("", quickfix) or quickfix.startswith(f"{kind}.") for kind in kinds)


def _title(diag: types.Diagnostic) -> str:
    """`Fix with Qwen: <first line of the message, shortened>`."""
    return action_title(Diagnostic(0, 0, 0, 0, diag.message))


def core_diagnostic(doc: TextDocument, diag: types.Diagnostic) -> Diagnostic:
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


def workspace_edit(doc: TextDocument, edits: Sequence[TextEdit], versioned: bool) -> types.WorkspaceEdit:
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


class CodeActions(Feature):
    def __init__(self, server: QwenLanguageServer) -> None:
        super().__init__(server)
        self._resolve = False
        self._versioned = False

    def register(self) -> None:
        server = self.server

        @server.feature(
            types.TEXT_DOCUMENT_CODE_ACTION,
            types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix], resolve_provider=True),
        )
        def code_action(params: types.CodeActionParams) -> list[types.CodeAction]:
            return self.make_actions(params)

        @server.feature(types.CODE_ACTION_RESOLVE)
        async def resolve_code_action(action: types.CodeAction) -> types.CodeAction:
            return await self.resolve(action)

        self.command(protocol.APPLY_FIX, protocol.ApplyFixArguments, self.apply_fix)

    def initialize(self, client: ClientFeatures) -> None:
        self._resolve = client.resolve_edit
        self._versioned = client.document_changes

    def make_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        """One quick fix per diagnostic, without generating anything (the list must appear at once)."""
        settings = self.settings.repair
        if not settings.enabled or not _wants_quickfix(params.context.only):
            return []
        uri = params.text_document.uri
        try:
            doc = self.server.workspace.get_text_document(uri)
        except Exception:
            return []
        line = params.range.start.line
        nearest = sorted(params.context.diagnostics, key=lambda d: abs(d.range.start.line - line))
        actions = []
        for diag in nearest[: settings.max_diagnostics]:
            fix = protocol.FixData(
                uri=uri,
                diagnostic=diag,
                version=doc.version,
                hash=fingerprint(doc.source) if doc.version is None else None,
            )
            data = protocol.CONVERTER.unstructure(fix)
            title = _title(diag)
            action = types.CodeAction(
                title=title, kind=types.CodeActionKind.QuickFix, diagnostics=[diag], data=data
            )
            if not self._resolve:
                action.command = types.Command(title=title, command=protocol.APPLY_FIX, arguments=[data])
            actions.append(action)
        return actions

    async def resolve(self, action: types.CodeAction) -> types.CodeAction:
        try:
            fix = protocol.CONVERTER.structure(action.data, protocol.FixData)
        except Exception:  # not an action of ours, or a client that mangled its data
            self._tell_no_fix(action.title, "the action carries no repair data")
            return action
        edit, reason = await self.compute_fix(fix)
        if edit is None:
            self._tell_no_fix(action.title, reason)
            return action
        action.edit = edit
        return action

    async def apply_fix(self, args: protocol.ApplyFixArguments) -> protocol.ApplyFixResult:
        fix = args.data
        title = f"Fix with Qwen: {fix.diagnostic.message}"
        edit, reason = await self.compute_fix(fix)
        if edit is None:
            self._tell_no_fix(title, reason)
            return protocol.ApplyFixResult(applied=False, reason=reason)
        result = await self.server.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=edit, label="Fix with Qwen")
        )
        if not result.applied:
            refused = result.failure_reason or "the editor did not apply the edit"
            self._tell_no_fix(title, refused)
            return protocol.ApplyFixResult(applied=False, reason=refused)
        return protocol.ApplyFixResult(applied=True, reason=reason)

    async def _snippets(self, path: Path | None, text: str, diag: Diagnostic) -> tuple[str, ...]:
        """Relevant code from other files (the repository context), when it is on; never fails a fix."""
        budget = self.settings.repair.context_tokens
        context = self.services.context.engine
        if context is None or path is None or budget <= 0:
            return ()
        offsets = line_offsets(text)
        offset = offsets[min(diag.start_line, len(offsets) - 1)] + diag.start_character
        try:
            result = await asyncio.to_thread(context.retrieve, path, text, offset, budget)
        except Exception:
            log.debug("no context for the repair prompt", exc_info=True)
            return ()
        return tuple(f"{s.path} (lines {s.start_line}-{s.end_line}):\n{s.text}" for s in result.snippets)

    async def compute_fix(self, fix: protocol.FixData) -> tuple[types.WorkspaceEdit | None, str]:
        """Write, verify and diff a fix for the action's diagnostic: (the edit, or None; the reason)."""
        server, services = self.server, self.services
        try:
            doc = server.workspace.get_text_document(fix.uri)
        except Exception:
            return None, "the document is not open"
        stale = stale_reason(fix.version, doc.version, fix.hash, doc.source)
        if stale:
            return None, stale
        path = uri_path(fix.uri)
        context = services.context.engine
        diagnostic = core_diagnostic(doc, fix.diagnostic)
        request = RepairRequest(
            text=doc.source,
            language=normalize_language(doc.language_id, path),
            diagnostics=(diagnostic,),
            path=context.relative_path(path)
            if context is not None and path is not None
            else (path.name if path is not None else fix.uri),
            version=doc.version,
            snippets=await self._snippets(path, doc.source, diagnostic),
        )
        progress = server.begin_progress(f"qwen-ls: {_title(fix.diagnostic)}")
        outcome = "cancelled"
        try:
            result = await services.repair.fix(
                request, self.settings.repair, self.settings.engine.embedded(), report=progress.report
            )
            outcome = "fixed" if result.accepted else "no fix"
        finally:
            progress.end(outcome)
        log.info(
            "repair %s line %d: %s (%s)",
            request.path,
            diagnostic.start_line + 1,
            "accepted" if result.accepted else "rejected",
            result.reason,
        )
        if not result.accepted:
            return None, result.reason
        current = server.workspace.get_text_document(fix.uri)
        if current.version != request.version or current.source != request.text:
            return None, "the document changed while the fix was being written; ask again"
        return workspace_edit(current, result.edits, self._versioned), result.reason

    def _tell_no_fix(self, title: str, reason: str) -> None:
        self.server.show(
            f"qwen-ls: no fix offered for “{title.removeprefix('Fix with Qwen: ')}”: {reason}",
            types.MessageType.Warning,
        )
