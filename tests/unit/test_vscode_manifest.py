"""The VS Code extension's manifest (editors/vscode/package.json) against the server.

Contributed settings must be exactly the server's settings (same keys, types, defaults, enums) plus the
few the extension reads itself; the lock file must pin what package.json asks for. No Node needed.
"""

from __future__ import annotations

import importlib.util
import json
import re
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


def test_the_install_hint_is_a_command_that_works() -> None:
    """Real VS Code showed `python3 -m pip install qwen-ls`, a package nobody published (issue 13): the
    hint is the README's install from a clone of the repository package.json names."""
    source = (VSCODE / "src" / "serverPath.ts").read_text(encoding="utf-8")
    repository = re.search(r'export const REPOSITORY = "([^"]+)";', source)
    assert repository is not None
    assert repository.group(1) == _package()["repository"]["url"]
    assert "git clone ${REPOSITORY} && ${python} -m pip install ./qwen-ls" in source
    assert not re.search(r"pip install qwen-ls\b", source)
    readme = (VSCODE.parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"git clone {repository.group(1)} && python3 -m pip install ./qwen-ls" in readme
    assert (VSCODE.parents[1] / "pyproject.toml").is_file(), "pip install ./qwen-ls needs a pyproject"


def test_the_real_vscode_test_is_run_by_ci_and_not_collected_by_the_main_run() -> None:
    root = VSCODE.parents[1]
    ci = (root / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash editors/vscode/e2e/run.sh" in ci
    assert ci.index("bash editors/vscode/e2e/run.sh") > ci.index("python -m pytest")
    assert (VSCODE / "e2e" / "test_vscode_e2e.py").is_file()
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    assert 'testpaths = ["tests"]' in pyproject, "the e2e module stays out of the main pytest run"
