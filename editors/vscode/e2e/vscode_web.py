"""Real VS Code for the end-to-end test: code-server (the VS Code workbench and extension host, served to a
browser) started in a private folder, and the workbench driven through Chromium by Playwright.

`CodeServer` owns the process and everything it writes (config, user data, extensions, XDG folders, its
file-watcher children). `Workbench` is what a user does and sees: open a file, type, read the ghost
text, the status bar, the notifications, run a palette command. `TraceLog` reads the Qwen output
channel's log file, where vscode-languageclient traces the JSON-RPC traffic (`qwen.trace.server`), so a
test can compare what the server sent with what the editor shows.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

T = TypeVar("T")


def wait_until(what: str, probe: Callable[[], T | None], timeout: float = 30.0, every: float = 0.1) -> T:
    """Polls `probe` until it returns something truthy; raises TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------------------------
# code-server


class CodeServer:
    """code-server with all of its state under `root`; `stop()` ends it and every process it started."""

    def __init__(self, binary: str, root: Path, node_bin_dir: str, path_dirs: list[str]) -> None:
        self.binary = binary
        self.root = root
        self.user_data = root / "user-data"
        self.extensions = root / "extensions"
        self.config = root / "config.yaml"
        self.log_path = root / "code-server.log"
        self.settings_path = self.user_data / "User" / "settings.json"
        self.machine_settings_path = self.user_data / "Machine" / "settings.json"
        # Node 24 first: the code-server launcher is `#!/usr/bin/env node`. The rest of PATH is what the
        # test chooses (qwen-ls deliberately not on it: the extension must find it through its setting).
        self.env = {
            "PATH": os.pathsep.join([node_bin_dir, *path_dirs]),
            "HOME": str(root / "home"),
            "XDG_DATA_HOME": str(root / "xdg-data"),
            "XDG_CONFIG_HOME": str(root / "xdg-config"),
            "XDG_CACHE_HOME": str(root / "xdg-cache"),
            "LANG": "C.UTF-8",
        }
        for key in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            Path(self.env[key]).mkdir(parents=True, exist_ok=True)
        self.settings_path.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text("bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def _base_args(self) -> list[str]:
        return [
            self.binary,
            "--config",
            str(self.config),
            "--user-data-dir",
            str(self.user_data),
            "--extensions-dir",
            str(self.extensions),
        ]

    def install_extension(self, vsix: Path) -> str:
        out = subprocess.run(
            [*self._base_args(), "--install-extension", str(vsix)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if out.returncode != 0 or "successfully installed" not in out.stdout:
            raise RuntimeError(f"code-server --install-extension failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def write_settings(self, settings: dict[str, Any], machine: dict[str, Any]) -> None:
        """The user settings.json and the remote ("Machine") one, before code-server starts. In a remote
        window (code-server, Remote-SSH) machine-scoped settings such as qwen.serverPath are read from
        the remote settings only."""
        self.settings_path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
        self.machine_settings_path.parent.mkdir(parents=True, exist_ok=True)
        self.machine_settings_path.write_text(json.dumps(machine, indent=2) + "\n", encoding="utf-8")

    def start(self, folder: Path, timeout: float = 120.0) -> str:
        self.port = free_port()
        args = [
            *self._base_args(),
            "--bind-addr",
            f"127.0.0.1:{self.port}",
            "--auth",
            "none",
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-workspace-trust",
            "--disable-getting-started-override",
            # trace: the Qwen output channel then logs the JSON-RPC traffic (with qwen.trace.server)
            "--log",
            "trace",
            str(folder),
        ]
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        url = f"http://127.0.0.1:{self.port}"

        def healthy() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"code-server exited: {self.log_path.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        wait_until("code-server to listen", healthy, timeout=timeout, every=0.3)
        return f"{url}/?folder={folder}"

    def own_processes(self) -> list[int]:
        """Processes started by this code-server: its process group, and anything else whose command line
        names its folder (the file watchers and the extension host's children may leave the group)."""
        if self.proc is None:
            return []
        pgid = self.proc.pid
        marker = str(self.root).encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            pid = int(entry.name)
            try:
                cmdline = (entry / "cmdline").read_bytes()
                environ = (entry / "environ").read_bytes()
                group = os.getpgid(pid)
            except (OSError, ProcessLookupError):
                continue
            if group == pgid or marker in cmdline or marker in environ:
                pids.append(pid)
        return pids

    def stop(self) -> list[int]:
        """Ends code-server and its children; returns the ids of any that outlived SIGKILL."""
        if self.proc is None:
            return []
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            pids = self.own_processes()
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
            deadline = time.monotonic() + grace
            while self.own_processes() and time.monotonic() < deadline:
                time.sleep(0.1)
        left = self.own_processes()
        self.proc = None
        return left

    def logs_dir(self) -> Path:
        return self.user_data / "logs"


# ---------------------------------------------------------------------------------------------------------
# The Qwen output channel's log (JSON-RPC trace)

_ENTRY = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \[(\w+)\] ", re.M)


@dataclass(frozen=True)
class TraceEntry:
    index: int
    level: str
    head: str
    body: Any


class TraceLog:
    """Entries of `exthost*/qwen-ls.qwen-ls/Qwen.log` under code-server's logs folder."""

    def __init__(self, logs_dir: Path) -> None:
        self.logs_dir = logs_dir

    def path(self) -> Path | None:
        found = sorted(
            self.logs_dir.glob("*/exthost*/qwen-ls.qwen-ls/Qwen.log"), key=lambda p: p.stat().st_mtime
        )
        return found[-1] if found else None

    def text(self) -> str:
        p = self.path()
        return p.read_text(encoding="utf-8", errors="replace") if p else ""

    def entries(self) -> list[TraceEntry]:
        text = self.text()
        marks = list(_ENTRY.finditer(text))
        out = []
        for i, m in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
            chunk = text[m.end() : end].rstrip("\n")
            head, _, rest = chunk.partition("\n")
            body: Any = None
            rest = rest.strip()
            for label in ("Params: ", "Result: "):
                if rest.startswith(label):
                    try:
                        body = json.loads(rest[len(label) :])
                    except json.JSONDecodeError:
                        body = rest[len(label) :]
            out.append(TraceEntry(i, m.group(2), head, body))
        return out

    def count(self, needle: str) -> int:
        return sum(1 for e in self.entries() if needle in e.head)

    def inline_answers(self) -> list[tuple[dict[str, Any], str | None]]:
        """(request params, the first item's insertText or None) for every answered inline request."""
        entries = self.entries()
        sent: dict[str, dict[str, Any]] = {}
        out: list[tuple[dict[str, Any], str | None]] = []
        for e in entries:
            m = re.match(
                r"(Sending request|Received response) 'textDocument/inlineCompletion - \((\d+)\)'", e.head
            )
            if not m:
                continue
            if m.group(1) == "Sending request":
                sent[m.group(2)] = e.body if isinstance(e.body, dict) else {}
                continue
            items = e.body.get("items") if isinstance(e.body, dict) else e.body
            text = None
            if isinstance(items, list) and items:
                text = items[0].get("insertText")
                if isinstance(text, dict):  # a snippet string
                    text = text.get("value")
            out.append((sent.get(m.group(2), {}), text))
        return out

    def notifications(self, method: str) -> list[Any]:
        return [e.body for e in self.entries() if e.head.startswith(f"Received notification '{method}'")]

    def info_json(self, prefix: str) -> list[Any]:
        """JSON the extension logged as `<prefix> {...}` (e.g. `stats:`)."""
        out = []
        for e in self.entries():
            if e.level == "info" and e.head.startswith(prefix):
                out.append(json.loads(e.head[len(prefix) :].strip() or "null"))
        return out


# ---------------------------------------------------------------------------------------------------------
# The workbench in the browser

GHOST_JS = """() => {
  const editor = document.querySelector('.editor-group-container.active .monaco-editor .view-lines')
    ?.closest('.monaco-editor');
  if (!editor) return null;
  const inline = [...editor.querySelectorAll(
      '.view-lines .ghost-text-decoration, .view-lines .ghost-text-decoration-preview')]
    .map(e => e.textContent).join('');
  // the lines after the first: elements of class ghost-text, one container per line
  const lines = new Map();
  for (const span of editor.querySelectorAll('.ghost-text')) {
    const line = span.parentElement;
    lines.set(line, (lines.get(line) || '') + span.textContent);
  }
  const extra = [...lines.values()];
  if (!inline && extra.length === 0) return null;
  return [inline, ...extra].join('\\n').replace(/\\u00a0/g, ' ');
}"""

OBSERVE_GHOST_JS = (
    """() => {
  window.__ghostSeen = [];
  const read = """
    + GHOST_JS
    + """;
  const note = () => {
    const t = read();
    const seen = window.__ghostSeen;
    if (t && seen[seen.length - 1] !== t) seen.push(t);
  };
  if (window.__ghostObserver) window.__ghostObserver.disconnect();
  window.__ghostObserver = new MutationObserver(note);
  window.__ghostObserver.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""
)


class Workbench:
    """The VS Code workbench in a Playwright page: what a user does and what they see."""

    def __init__(self, page: Page, workspace: Path, artifacts: Path) -> None:
        self.page = page
        self.workspace = workspace
        self.artifacts = artifacts

    def load(self, url: str, timeout: float = 120.0) -> None:
        self.page.goto(url, timeout=timeout * 1000)
        self.page.wait_for_selector(".monaco-workbench .part.statusbar", timeout=timeout * 1000)

    def screenshot(self, name: str) -> Path:
        self.artifacts.mkdir(parents=True, exist_ok=True)
        path = self.artifacts / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    # -- status bar, notifications ---------------------------------------------------------------------

    def status_item(self) -> dict[str, str] | None:
        return self.page.evaluate(
            """() => {
              const e = document.getElementById('qwen-ls.qwen-ls.qwen.status');
              if (!e) return null;
              const icon = e.querySelector('.codicon');
              const cls = icon ? [...icon.classList]
                .find(c => c.startsWith('codicon-') && c !== 'codicon-modifier-spin') : '';
              return {text: e.innerText.trim(), label: e.getAttribute('aria-label') || '', icon: cls || ''};
            }"""
        )

    def wait_status(self, icon: str, timeout: float = 60.0) -> dict[str, str]:
        def probe() -> dict[str, str] | None:
            item = self.status_item()
            return item if item and item["icon"] == f"codicon-{icon}" else None

        return wait_until(f"the Qwen status bar item to show {icon}", probe, timeout)

    def notifications(self) -> list[str]:
        """Texts of the notification toasts on screen (message, source and buttons)."""
        return self.page.eval_on_selector_all(
            ".notifications-toasts .notification-toast", "els => els.map(e => e.innerText)"
        )

    def clear_notifications(self) -> None:
        self.run_command("Notifications: Clear All Notifications")
        wait_until("the notifications to go", lambda: not self.notifications(), timeout=10)

    # -- commands, files, keys ---------------------------------------------------------------------------

    def quick_input(self, opener: str, text: str, row: str | None, attempts: int = 3) -> None:
        """Opens Quick Open / the palette with `opener`, types `text`, waits for a row naming `row`, and
        presses Enter. An editor that opens meanwhile (a command's result) closes the picker: then the
        user opens it again."""
        box = self.page.locator(".quick-input-widget input").first
        for attempt in range(attempts):
            try:
                self.page.keyboard.press(opener)
                box.wait_for(state="visible", timeout=10_000)
                box.fill(text, timeout=5_000)
                if row is not None:
                    self.page.locator(
                        f".quick-input-list .monaco-list-row[aria-label*={json.dumps(row)}]"
                    ).first.wait_for(timeout=20_000)
                self.page.keyboard.press("Enter")
                return
            except PlaywrightTimeoutError:
                if attempt == attempts - 1:
                    raise
                if box.is_visible():
                    self.page.keyboard.press("Escape")

    def run_command(self, title: str) -> None:
        """Runs a command from the palette by its title (as a user types it)."""
        self.focus_editor_or_workbench()
        self.quick_input("F1", ">" + title, title)

    def focus_editor_or_workbench(self) -> None:
        if self.page.locator(".quick-input-widget input:visible").count():
            self.page.keyboard.press("Escape")

    def open_file(self, name: str) -> None:
        self.focus_editor_or_workbench()
        self.quick_input("Control+p", name, name)
        self.page.locator(
            f".editor-group-container.active .tab.active[aria-label*={json.dumps(name)}]"
        ).first.wait_for(timeout=20_000)
        self.page.locator(".editor-group-container.active .monaco-editor textarea").first.wait_for(
            state="attached", timeout=10_000
        )

    def go_to(self, line: int, column: int) -> None:
        """Quick Open with `:line:column` (1-based, as the user types it; Ctrl+G is the browser's)."""
        self.quick_input("Control+p", f":{line}:{column}", None)
        wait_until(f"the cursor at {line}:{column}", lambda: self.cursor() == (line, column), timeout=10)

    def cursor(self) -> tuple[int, int] | None:
        text = self.page.evaluate("() => document.getElementById('status.editor.selection')?.innerText || ''")
        m = re.search(r"Ln (\d+), Col (\d+)", text)
        return (int(m.group(1)), int(m.group(2))) if m else None

    def type(self, text: str, delay_ms: float = 30) -> None:
        self.page.keyboard.type(text, delay=delay_ms)

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def save(self, name: str) -> str:
        """Ctrl+S and the file's text on disk: the editor's buffer, exactly."""
        path = self.workspace / name
        before = path.stat().st_mtime_ns
        self.press("Control+s")
        try:
            wait_until("the file to be written", lambda: path.stat().st_mtime_ns != before, timeout=5)
        except TimeoutError:
            pass  # nothing to save: the buffer is what is on disk
        return path.read_text(encoding="utf-8")

    def is_dirty(self) -> bool:
        """The active tab shows unsaved changes."""
        tab = self.page.locator(".editor-group-container.active .tab.active").first
        return "dirty" in (tab.get_attribute("class") or "").split()

    # -- ghost text, editors -----------------------------------------------------------------------------

    def ghost_text(self) -> str | None:
        return self.page.evaluate(GHOST_JS)

    def ghost_dom(self) -> list[list[str]]:
        """Every element with a ghost-text class: [class, text] (for failure messages)."""
        return self.page.eval_on_selector_all(
            "[class*=ghost]", "els => els.map(e => [e.className, e.textContent.slice(0, 200)])"
        )

    def observe_ghost_text(self) -> None:
        """Records every ghost text drawn from now on (a MutationObserver in the page)."""
        self.page.evaluate(OBSERVE_GHOST_JS)

    def ghost_texts_seen(self) -> list[str]:
        return self.page.evaluate("() => window.__ghostSeen || []")

    def editor_text(self, ghost: bool = True) -> str:
        """The visible lines of the active editor (what is on screen, not the whole buffer); with
        `ghost=False` without the ghost text drawn in them."""
        return self.page.evaluate(
            """(ghost) => {
              const sel = '.editor-group-container.active .monaco-editor .view-lines .view-line';
              const lines = [...document.querySelectorAll(sel)];
              lines.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top));
              return lines.map(l => {
                const c = l.cloneNode(true);
                if (!ghost) c.querySelectorAll('[class*=ghost-text]').forEach(g => g.remove());
                return c.textContent;
              }).join('\\n').replace(/\\u00a0/g, ' ');
            }""",
            ghost,
        )

    def wait_for_line(self, line: str, timeout: float = 10.0) -> None:
        """Until a visible line of the active editor's text (ghost text left out) is exactly `line`."""
        wait_until(
            f"the line {line!r} in the editor",
            lambda: line in self.editor_text(ghost=False).split("\n"),
            timeout=timeout,
        )

    def active_tab(self) -> str:
        return (
            self.page.locator(".editor-group-container.active .tab.active").first.get_attribute("aria-label")
            or ""
        )

    def menu_rows(self, selector: str) -> list[str]:
        return self.page.eval_on_selector_all(selector, "els => els.map(e => e.innerText)")
