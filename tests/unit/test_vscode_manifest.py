"""The VS Code extension's manifest (editors/vscode/package.json) against the server.

Contributed settings must be exactly the server's settings (same keys, types, defaults, enums) plus the
few the extension reads itself; the lock file must pin what package.json asks for. No Node needed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

VSCODE = Path(__file__).resolve().parents[2] / "editors" / "vscode"


def _package() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    return data


def _sync_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "qwen_vscode_sync_settings", VSCODE / "scripts" / "sync_settings.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_contributed_settings_match_the_server_schema() -> None:
    config = pytest.importorskip("qwen_ls.config")
    if not hasattr(config, "settings_schema"):
        pytest.skip("qwen_ls.config.settings_schema() does not exist yet")
    sync = _sync_module()
    problems = sync.differences(_package(), sync.server_properties())
    assert problems == [], (
        "run: .venv/bin/python editors/vscode/scripts/sync_settings.py --write\n" + "\n".join(problems)
    )


def test_the_check_notices_a_drifted_setting() -> None:
    config = pytest.importorskip("qwen_ls.config")
    if not hasattr(config, "settings_schema"):
        pytest.skip("qwen_ls.config.settings_schema() does not exist yet")
    sync = _sync_module()
    package = _package()
    props = package["contributes"]["configuration"]["properties"]
    props["qwen.completion.maxTokens"]["default"] = 12345
    props["qwen.notASetting"] = {"type": "boolean", "default": False}
    del props["qwen.model"]
    problems = sync.differences(package, sync.server_properties())
    assert any(p.startswith("qwen.completion.maxTokens.default") for p in problems)
    assert "qwen.notASetting: in package.json, not a server setting" in problems
    assert "qwen.model: server setting missing from package.json" in problems


def test_client_only_settings_are_not_sent_to_the_server() -> None:
    props = _package()["contributes"]["configuration"]["properties"]
    for key in ("qwen.serverPath", "qwen.serverArgs", "qwen.trace.server"):
        assert key in props
    # the extension's own list (src/settings.ts) must name the same keys
    source = (VSCODE / "src" / "settings.ts").read_text(encoding="utf-8")
    assert 'CLIENT_ONLY_KEYS: readonly string[] = ["serverPath", "serverArgs", "trace.server"]' in source


def test_activation_commands_and_keybindings() -> None:
    package = _package()
    assert package["activationEvents"] == ["onStartupFinished"]
    assert package["main"] == "./out/src/extension.js"
    assert package["engines"]["vscode"] == "^1.91.0"
    commands = {c["command"] for c in package["contributes"]["commands"]}
    assert {
        "qwenLs.enable",
        "qwenLs.disable",
        "qwenLs.restart",
        "qwenLs.showLog",
        "qwenLs.explainContext",
        "qwenLs.stats",
    } <= commands
    # server commands are registered by vscode-languageclient under their own names: no clash allowed
    assert not any(c.startswith("qwen.") for c in commands)
    bound = {k["command"] for k in package["contributes"]["keybindings"]}
    assert bound == {
        "editor.action.inlineSuggest.acceptNextWord",
        "editor.action.inlineSuggest.acceptNextLine",
    }


def test_lock_file_pins_the_declared_dependencies() -> None:
    package = _package()
    lock = json.loads((VSCODE / "package-lock.json").read_text(encoding="utf-8"))
    root = lock["packages"][""]
    assert root.get("dependencies", {}) == package.get("dependencies", {})
    assert root.get("devDependencies", {}) == package.get("devDependencies", {})
    major = lock["packages"]["node_modules/vscode-languageclient"]["version"].split(".")[0]
    assert major == "11", "inline completion is a default feature from vscode-languageclient 11"
