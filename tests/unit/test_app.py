"""The shape of the server (`qwen_ls.app`): one composition root, features that depend only on the
services, the completion menu offered only to clients without inline completion, no benchmark code in
the server process."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import client_capabilities

from qwen_ls.app import FEATURES, create_server
from qwen_ls.features.base import ClientFeatures
from qwen_ls.server import QwenLanguageServer

FEATURES_DIR = Path(__file__).resolve().parents[2] / "qwen_ls" / "features"


@pytest.fixture
def server() -> Iterator[QwenLanguageServer]:
    ls = create_server()
    yield ls
    ls.services.close()


def _initialize(ls: QwenLanguageServer, caps: types.ClientCapabilities) -> None:
    handler = ls.protocol.fm.features[types.INITIALIZE]
    handler(types.InitializeParams(capabilities=caps, client_info=types.ClientInfo(name="test")))


def _with_inline(client: str) -> types.ClientCapabilities:
    caps = client_capabilities(client)
    assert caps.text_document is not None
    caps.text_document.inline_completion = types.InlineCompletionClientCapabilities()
    return caps


def test_client_capabilities_are_read_once_into_plain_flags() -> None:
    vscode = ClientFeatures.read(types.InitializeParams(capabilities=_with_inline("visual-studio-code")))
    assert vscode.inline_completion and vscode.resolve_edit and vscode.document_changes
    assert vscode.work_done_progress and vscode.configuration
    bare = ClientFeatures.read(types.InitializeParams(capabilities=types.ClientCapabilities()))
    assert bare == ClientFeatures()


@pytest.mark.parametrize(("inline", "menu"), [(True, False), (False, True)])
def test_the_completion_menu_is_registered_only_for_clients_without_inline(
    server: QwenLanguageServer, inline: bool, menu: bool
) -> None:
    caps = _with_inline("neovim") if inline else client_capabilities("neovim")
    _initialize(server, caps)
    assert server.client.inline_completion is inline
    assert (types.TEXT_DOCUMENT_COMPLETION in server.protocol.fm.features) is menu
    assert types.TEXT_DOCUMENT_INLINE_COMPLETION in server.protocol.fm.features


def test_every_feature_is_added_once_in_hook_order(server: QwenLanguageServer) -> None:
    assert [type(f) for f in server.features] == list(FEATURES)
    assert set(server.protocol.fm.commands) == {
        "qwen.stats",
        "qwen.explainContext",
        "qwen.lastPrompt",
        "qwen.applyFix",
    }


def _runtime_imports(path: Path) -> set[str]:
    """Modules a file imports when it runs, as dotted names (`from a import b` gives `a.b`; imports
    under `if TYPE_CHECKING:` left out)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    out = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def _is_feature_or_server(name: str) -> bool:
    if name.startswith("qwen_ls.server"):
        return True
    return name.startswith("qwen_ls.features.") and not name.startswith("qwen_ls.features.base")


def test_the_import_check_sees_feature_imports() -> None:
    assert _is_feature_or_server("qwen_ls.features.completions.Completions")
    assert _is_feature_or_server("qwen_ls.features.completions")  # `from qwen_ls.features import completions`
    assert _is_feature_or_server("qwen_ls.server.QwenLanguageServer")
    assert not _is_feature_or_server("qwen_ls.features.base.Feature")
    assert not _is_feature_or_server("qwen_ls.snapshot.take_snapshot")


@pytest.mark.parametrize("path", sorted(FEATURES_DIR.glob("*.py")), ids=lambda p: p.name)
def test_a_feature_imports_no_other_feature_and_not_the_server(path: Path) -> None:
    found = sorted(m for m in _runtime_imports(path) if _is_feature_or_server(m))
    assert not found, f"{path.name} imports {found} at run time"


def test_the_server_process_holds_no_benchmark_code() -> None:
    code = (
        "import sys\n"
        "from qwen_ls.app import create_server\n"
        "server = create_server()\n"
        "server.services.close()\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('qwen_ls.bench'))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
