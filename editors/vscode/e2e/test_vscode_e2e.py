"""The VS Code extension in real VS Code: code-server's workbench and extension host, driven through
Chromium, with the packaged .vsix and `qwen-ls serve` on the synthetic tiny model (random weights: the
text is noise, but every byte of it went through the real prompt, engine and post-processing); streaming
runs on the 0.5B shape, which writes slowly enough for VS Code to draw each step.

Each scenario asserts on what the user sees (the ghost text and the editor in the DOM, the file as
saved, the status bar, notifications) and compares it with what the server sent, read from the
JSON-RPC trace in the Qwen output channel's log. A screenshot of each goes to the artifacts folder.

Run by editors/vscode/e2e/run.sh (which installs code-server, Node 24, Chromium and Playwright first).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, REQUIRED, Session

if not REQUIRED:  # under run.sh a missing Playwright is a collection error, never a skip
    pytest.importorskip("playwright.sync_api", reason="Playwright for Python (run editors/vscode/e2e/run.sh)")
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from vscode_web import wait_until

pytestmark = [pytest.mark.timeout(300)]

Shot = Callable[[str], Path]
FUNC = "def add(a, b):\n    return \n"


def _position(params: dict[str, Any]) -> tuple[int, int] | None:
    pos = params.get("position")
    return (pos["line"], pos["character"]) if isinstance(pos, dict) else None


def suggest(s: Session, keys: str, timeout: float = 30.0) -> tuple[str, str, str]:
    """Types `keys` one at a time until a suggestion is drawn; returns (ghost text on screen, the text the
    server sent for the cursor's position, the keys typed). The noise model sometimes has nothing to say:
    the next key is a new request, as it would be for a user. (Nothing here saves the file: saving
    dismisses the suggestion.)"""
    last_error: Exception | None = None
    for n, key in enumerate(keys, 1):
        s.wb.type(key)
        cursor = wait_until("the cursor position", s.wb.cursor, timeout=5)
        here = (cursor[0] - 1, cursor[1] - 1)
        stable: list[tuple[str, str]] = []

        def probe(
            here: tuple[int, int] = here, stable: list[tuple[str, str]] = stable
        ) -> tuple[str, str] | None:
            answers = [
                text for params, text in s.trace.inline_answers() if _position(params) == here and text
            ]
            ghost = s.wb.ghost_text()
            if not answers or not ghost:
                stable.clear()
                return None
            now = (ghost, answers[-1])
            if stable and stable[-1] == now:
                return now
            stable.append(now)
            time.sleep(0.3)
            return None

        try:
            ghost, sent = wait_until(f"a suggestion at {here}", probe, timeout=timeout)
            return ghost, sent, keys[:n]
        except TimeoutError as exc:
            last_error = exc
    raise AssertionError(f"no suggestion after typing {keys!r}: {last_error}")


def ghost_after(s: Session, old: str, timeout: float = 10.0) -> str:
    """The ghost text once it is no longer `old` ("" when none is left)."""

    def probe() -> list[str] | None:
        now = s.wb.ghost_text() or ""
        return [now] if now != old else None

    return wait_until("the ghost text to change", probe, timeout)[0]


def open_at(s: Session, name: str, text: str, line: int, column: int) -> None:
    s.file(name, text)
    s.wb.open_file(name)
    s.wb.go_to(line, column)


def test_1_activates_on_a_python_file_and_shows_the_model_ready(vscode: Session, shot: Shot) -> None:
    s = vscode
    s.file("calc.py", FUNC)
    s.wb.open_file("calc.py")
    item = s.wb.wait_status("sparkle", timeout=90)
    assert item["text"] == "Qwen tiny", item
    assert "qwen-ls: ready" in item["label"] and "tiny.gguf" in item["label"], item
    assert s.trace.count("starting ") == 1, "one server process was started"
    shot("ready")


def test_2_ghost_text_is_what_the_server_sent_and_tab_inserts_exactly_it(vscode: Session, shot: Shot) -> None:
    s = vscode
    open_at(s, "ghost.py", FUNC, 2, 12)
    ghost, sent, typed = suggest(s, "a+b")
    shot("ghost")
    assert ghost == sent, "the ghost text on screen is the text the server sent"
    s.wb.press("Tab")
    s.wb.wait_for_line("    return " + typed + sent)
    text = s.wb.save("ghost.py")
    shot("accepted")
    assert text == "def add(a, b):\n    return " + typed + sent + "\n"


def test_3_a_key_that_does_not_match_drops_the_suggestion_and_tab_indents(
    vscode: Session, shot: Shot
) -> None:
    s = vscode
    # the server waits 1.5 s before answering, so the key after the non-matching one meets no new answer
    s.settings(qwen__completion__debounceMs=1500)
    try:
        open_at(s, "stale.py", FUNC, 2, 12)
        _, sent, typed = suggest(s, "a+b")
        line = "    return " + typed
        other = next(c for c in "#zq" if not sent.startswith(c))
        s.wb.type(other, delay_ms=0)
        s.wb.press("Tab")
        before_tab = line + other
        indent = " " * (4 - len(before_tab) % 4)
        s.wb.wait_for_line(before_tab + indent)
        shot("tab")
        text = s.wb.save("stale.py")
        assert text.split("\n")[1] == before_tab + indent, "Tab indented; the old suggestion was not accepted"
        assert sent not in text and sent[1:] not in text
    finally:
        s.settings()


def test_4_accept_word_and_accept_line_insert_a_word_and_a_line(vscode: Session, shot: Shot) -> None:
    s = vscode
    open_at(s, "words.py", "import os\n\n\ndef main():\n    \n", 5, 5)
    ghost, sent, typed = suggest(s, "xyw")
    assert ghost == sent
    shot("before")
    s.wb.press("Control+ArrowRight")
    rest1 = ghost_after(s, sent)
    word = sent[: len(sent) - len(rest1)]
    shot("word")
    assert word and sent == word + rest1, (sent, rest1)
    assert len(word.strip().split()) == 1, f"one word: {word!r}"
    if rest1:
        s.wb.press("Alt+l")
        rest2 = ghost_after(s, rest1)
        line = rest1[: len(rest1) - len(rest2)]
        shot("line")
        assert rest1 == line + rest2
        expected = rest1.split("\n")[0] + ("\n" if "\n" in rest1 else "")
        assert line == expected, "accept line inserts the rest of the suggestion's current line"
    else:
        line = ""
    text = s.wb.save("words.py")
    assert text == "import os\n\n\ndef main():\n    " + typed + word + line + "\n"


def test_5_a_typescript_error_gets_fix_with_qwen(vscode: Session, shot: Shot) -> None:
    s = vscode
    source = 'const total: number = "five";\nexport { total };\n'
    s.file("bad.ts", source)
    s.wb.open_file("bad.ts")
    page = s.wb.page
    page.locator(".editor-group-container.active .squiggly-error").first.wait_for(timeout=120_000)
    s.wb.go_to(1, 8)
    resolves = s.trace.count("Sending request 'codeAction/resolve")
    row = page.locator(".action-widget .monaco-list-row", has_text="Fix with Qwen").first
    # In one clean-clone run the menu never showed, although the trace has the server answering the
    # invoked codeAction with "Fix with Qwen" in 12 ms (probably closed by the lightbulb's own refresh
    # 0.3 s later). A user presses the key again; so does the test.
    for attempt in range(3):
        s.wb.press("Control+.")
        try:
            row.wait_for(timeout=10_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            s.wb.press("Escape")
    shot("menu")
    assert "Type 'string' is not assignable to type 'number'" in row.inner_text()
    row.click()
    wait_until(
        "the fix to be resolved",
        lambda: s.trace.count("Received response 'codeAction/resolve") > resolves,
        180,
    )

    def outcome() -> str | None:
        told = [n for n in s.wb.notifications() if "no fix offered" in n]
        if told:
            return "rejected: " + told[0]
        return "applied" if s.wb.is_dirty() else None

    result = wait_until("a fix or the reason there is none", outcome, timeout=60)
    shot("outcome")
    if result.startswith("rejected"):
        assert "Type 'string' is not assignable" in result, result
        assert (s.wb.workspace / "bad.ts").read_text() == source
        assert not s.wb.is_dirty()
        assert s.wb.editor_text(ghost=False).split("\n")[:2] == source.split("\n")[:2], (
            "the buffer is unchanged"
        )
    else:
        text = s.wb.save("bad.ts")
        assert text != source


def _did_change_configuration(s: Session) -> list[Any]:
    return [
        e.body
        for e in s.trace.entries()
        if e.head.startswith("Sending notification 'workspace/didChangeConfiguration'")
    ]


def _stats(s: Session) -> dict[str, Any]:
    before = len(s.trace.info_json("stats:"))
    s.wb.run_command("Qwen: Show Statistics")
    stats = wait_until("the statistics", lambda: s.trace.info_json("stats:")[before:], timeout=30)[-1]
    wait_until("the statistics shown", lambda: '"requests"' in s.wb.editor_text(), timeout=30)
    s.wb.run_command("View: Revert and Close Editor")
    return stats


def test_6_max_tokens_in_settings_json_reaches_the_running_server(vscode: Session, shot: Shot) -> None:
    s = vscode
    open_at(s, "tokens.py", FUNC, 2, 12)
    suggest(s, "a+b")
    first = _stats(s)["last"]
    assert first["outcome"] == "shown" and first["generated"] > 2, first
    sent_before = len(_did_change_configuration(s))
    s.settings(qwen__completion__maxTokens=2)
    try:
        change = wait_until("didChangeConfiguration", lambda: _did_change_configuration(s)[sent_before:], 30)[
            -1
        ]
        assert change["settings"]["qwen"]["completion"]["maxTokens"] == 2
        open_at(s, "tokens2.py", FUNC, 2, 12)
        suggest(s, "c-d")
        last = _stats(s)["last"]
        shot("stats")
        assert last["outcome"] == "shown" and 1 <= last["generated"] <= 2, last
        assert s.trace.count("starting ") == 1, "a setting the server takes live does not restart it"
    finally:
        s.settings()


def _install_command_works(command: str, tmp: Path) -> str:
    """Runs the hint's pip part against this checkout (the clone it names): pip must find qwen-ls there."""
    m = re.fullmatch(r"git clone (\S+) && (\S+) -m pip install \./qwen-ls", command)
    assert m, command
    assert m.group(1) == "https://github.com/qwen-ls/qwen-ls"
    (tmp / "qwen-ls").symlink_to(REPO)
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "./qwen-ls"],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0 and "Would install qwen-ls-" in out.stdout, out.stdout + out.stderr
    return out.stdout


def test_6b_a_server_path_that_points_nowhere_says_so_with_a_working_install_command(
    vscode: Session, shot: Shot, tmp_path: Path
) -> None:
    s = vscode
    s.wb.clear_notifications()
    try:
        s.settings(qwen__serverPath="/nowhere/bin/qwen-ls")
        toast = wait_until(
            "the error message",
            lambda: [n for n in s.wb.notifications() if '"qwen.serverPath" points to' in n],
            timeout=30,
        )[0]
        s.wb.wait_status("warning")
        shot("message")
        assert '"/nowhere/bin/qwen-ls", which is not an executable file' in toast
        assert "Open Settings" in toast and "Show Log" in toast
        m = re.search(r"To install it: (git clone .*? -m pip install \./qwen-ls)", toast)
        assert m, toast
        _install_command_works(m.group(1), tmp_path)
        # not set, and not on PATH (the test's PATH has no qwen-ls): the not-found message
        s.wb.clear_notifications()
        s.settings(qwen__serverPath="")
        toast = wait_until(
            "the not-found message",
            lambda: [n for n in s.wb.notifications() if "was not found" in n],
            timeout=30,
        )[0]
        shot("not-found")
        assert (
            "Install it with: git clone https://github.com/qwen-ls/qwen-ls"
            " && python3 -m pip install ./qwen-ls" in toast
        )
    finally:
        s.settings()
        s.wb.wait_status("sparkle", timeout=90)
        s.wb.clear_notifications()


def test_6c_a_server_that_exits_at_start_is_reported_once_and_not_restarted(
    vscode: Session, shot: Shot, tmp_path: Path
) -> None:
    """Seen in real VS Code: a server that died at start (a broken install) gave three popups, none
    naming the cause, and vscode-languageclient started it again and again."""
    s = vscode
    runs = tmp_path / "runs"
    broken = tmp_path / "qwen-ls"
    broken.write_text(f'#!/bin/sh\necho run >> "{runs}"\necho "boom: a broken qwen-ls install" >&2\nexit 1\n')
    broken.chmod(0o755)
    s.wb.clear_notifications()
    try:
        s.settings(qwen__serverPath=str(broken))
        toast = wait_until(
            "the start failure",
            lambda: [n for n in s.wb.notifications() if "the server did not start" in n],
            timeout=60,
        )[0]
        s.wb.wait_status("debug-stop")
        time.sleep(5)  # a restart loop would run the server again meanwhile
        shot("message")
        assert f'"{broken} serve" ended before it answered' in toast and "Show Log" in toast, toast
        assert runs.read_text().count("run") == 1, "the server was started once, not again and again"
        assert not [n for n in s.wb.notifications() if "Server initialization failed" in n]
        assert "boom: a broken qwen-ls install" in s.trace.text(), "the server's own error is in the log"
    finally:
        s.settings()
        s.wb.wait_status("sparkle", timeout=90)
        s.wb.clear_notifications()


def test_7_palette_commands_explain_statistics_restart(vscode: Session, shot: Shot) -> None:
    s = vscode
    open_at(s, "palette.py", "import os\n\n\ndef main():\n    return os.getcwd()\n", 5, 12)
    s.wb.run_command("Qwen: Explain Completion Context")
    wait_until("the explanation", lambda: "# Completion context" in s.wb.editor_text(), timeout=60)
    shot("explain")
    assert "palette.py:5:12" in s.wb.editor_text()

    before = len(s.trace.info_json("stats:"))
    s.wb.run_command("Qwen: Show Statistics")
    wait_until("the statistics", lambda: '"requests"' in s.wb.editor_text(), timeout=30)
    shot("stats")
    stats = s.trace.info_json("stats:")[before:]
    assert stats and stats[-1]["model"]["state"] == "ready", stats

    starts = s.trace.count("starting ")
    s.wb.run_command("Qwen: Restart Server")
    wait_until("a new server process", lambda: s.trace.count("starting ") == starts + 1, timeout=30)
    s.wb.wait_status("sparkle", timeout=90)
    shot("restarted")
    s.wb.run_command("View: Focus First Editor Group")
    s.wb.open_file("palette.py")
    s.wb.go_to(5, 23)
    s.wb.press("Enter")
    suggest(s, "x=1")


def _partial_drawn(seen: list[str], partials: list[str], final: str) -> bool:
    """A streamed text that is not the final answer was on screen as the suggestion."""
    return any(t in partials and t != final for t in seen)


def test_8_streaming_the_suggestion_grows_while_the_model_writes(
    vscode: Session, shot: Shot, streaming_model: Path
) -> None:
    s = vscode
    starts = s.trace.count("starting ")
    s.settings(
        qwen__streaming=True,
        qwen__model=str(streaming_model),  # a 0.5B shape: tokens come at a real model's pace
        qwen__completion__maxTokens=64,
        qwen__completion__mode="multi",
    )
    try:
        wait_until(
            "the restart streaming needs", lambda: s.trace.count("starting ") == starts + 1, timeout=30
        )
        s.wb.wait_status("sparkle", timeout=90)
        open_at(s, "stream.py", "def add(a, b):\n    \n", 2, 5)
        seen: list[str] = []
        partials: list[str] = []
        sent = ""
        for key in "xyzwvu":  # a suggestion that is one token long cannot grow: type on
            s.wb.observe_ghost_text()
            partials_before = len(s.trace.notifications("qwen/partialCompletion"))
            try:
                _, sent, _ = suggest(s, key)
            except AssertionError:
                continue  # the noise model had nothing to say here: the next key asks again
            seen = s.wb.ghost_texts_seen()
            partials = [
                p["text"]
                for p in s.trace.notifications("qwen/partialCompletion")[partials_before:]
                if not p["done"]
            ]
            if _partial_drawn(seen, partials, sent):
                break
        shot("final")
        dom = s.wb.ghost_dom()
        assert len(set(partials)) >= 2, f"the server streamed growing texts: {partials!r}"
        assert _partial_drawn(seen, partials, sent), (
            f"a streamed text was drawn before the final one {sent!r}: drawn {seen!r}, "
            f"streamed {partials!r}; DOM {dom!r}"
        )
    finally:
        s.settings()
