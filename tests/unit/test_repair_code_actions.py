"""The code-action glue's conversions: `context.only`, and positions through the negotiated encoding
(UTF-16 by default) in both directions."""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec
from pygls.workspace.text_document import TextDocument

from qwen_ls.features.code_actions import _wants_quickfix, core_diagnostic, workspace_edit
from qwen_ls.lsp.documents import Document
from qwen_ls.repair import Diagnostic, RepairRequest, RepairSettings, apply_edits, run_repair

# "𝄞" is 2 UTF-16 units and 1 str index; "é" is 1 and 1.
TEXT = "s = '𝄞é'; t = (1,\nu = [s for s in t if s\n"
URI = "file:///w/m.py"


def _doc(encoding: types.PositionEncodingKind = types.PositionEncodingKind.Utf16) -> TextDocument:
    # the server's own document class (qwen_ls.lsp.documents), as the workspace makes them
    return Document(URI, TEXT, version=3, position_codec=PositionCodec(encoding=encoding))


def test_only_filter() -> None:
    assert _wants_quickfix(None) and _wants_quickfix([])
    assert _wants_quickfix([types.CodeActionKind.QuickFix])
    assert _wants_quickfix(["quickfix"])
    assert not _wants_quickfix([types.CodeActionKind.Refactor, types.CodeActionKind.Source])


def test_client_positions_become_string_indices() -> None:
    doc = _doc()
    # `t = (` starts after `s = '𝄞é'; `: 10 str indices, 11 UTF-16 units
    diag = types.Diagnostic(
        range=types.Range(
            start=types.Position(line=0, character=11), end=types.Position(line=0, character=16)
        ),
        message="'(' was never closed",
    )
    core = core_diagnostic(doc, diag)
    assert (core.start_line, core.start_character, core.end_line, core.end_character) == (0, 10, 0, 15)
    assert TEXT.splitlines()[0][10:15] == "t = ("
    utf8 = _doc(types.PositionEncodingKind.Utf8)
    diag8 = types.Diagnostic(
        range=types.Range(
            start=types.Position(line=0, character=14), end=types.Position(line=0, character=19)
        ),
        message="x",
    )
    assert core_diagnostic(utf8, diag8).start_character == 10  # 𝄞 is 4 UTF-8 bytes, é 2


def test_edits_go_back_in_the_client_encoding_and_apply() -> None:
    doc = _doc()
    answer = "```python\ns = '𝄞é'; t = (1,)\nu = [s for s in t if s]\n```"
    request = RepairRequest(TEXT, "python", (Diagnostic(0, 10, 0, 15, "'(' was never closed"),))
    result = run_repair(request, RepairSettings(), lambda messages, temperature, plan: (answer, False))
    assert result.accepted, result.reason
    assert apply_edits(TEXT, result.edits) == result.new_document
    edit = workspace_edit(doc, result.edits, versioned=True)
    assert edit.document_changes is not None
    change = edit.document_changes[0]
    assert isinstance(change, types.TextDocumentEdit) and change.text_document.version == 3
    assert [
        (e.range.start, e.range.end, e.new_text) for e in change.edits if isinstance(e, types.TextEdit)
    ] == [
        (types.Position(line=0, character=18), types.Position(line=0, character=18), ")"),  # 17 str indices
        (types.Position(line=1, character=22), types.Position(line=1, character=22), "]"),
    ]
    # the same edits applied by a client that counts UTF-16 units give the fixed document
    for e in reversed(change.edits):
        assert isinstance(e, types.TextEdit)
        doc.apply_change(types.TextDocumentContentChangePartial(range=e.range, text=e.new_text))
    assert doc.source == result.new_document
    plain = workspace_edit(_doc(), result.edits, versioned=False)
    assert plain.changes is not None and URI in plain.changes
