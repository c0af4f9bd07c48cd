"""Headless Neovim 0.11 against the real `qwen-ls serve` with a synthetic tiny model (random weights, so
the text is noise, but every byte of it goes through the real prompt, engine and post-processing).

- plain `vim.lsp` (no plugin) gets an inline completion item (issue 2);
- with the plugin: typing shows ghost text, accept / accept word / accept line insert it, typing on
  cancels the pending request, dismiss removes the suggestion.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import needs_llama
from tests.editor.conftest import plugin_init
from tests.editor.nvim_driver import Nvim

pytestmark = [pytest.mark.editor, pytest.mark.slow, pytest.mark.timeout(110), needs_llama]

SERVER = [sys.executable, "-m", "qwen_ls", "serve"]

GHOST = """(function()
  local g = require('qwen_ls.ghost')
  local s = g.state[vim.api.nvim_get_current_buf()]
  if not s or not s.sug then return nil end
  local marks = vim.api.nvim_buf_get_extmarks(0, g.ns, 0, -1, { details = true })
  if #marks == 0 then return nil end
  return { text = s.sug.text, row = marks[1][2], col = marks[1][3], inline = marks[1][4].virt_text[1][1],
           nlines = #(marks[1][4].virt_lines or {}), partial = s.sug.partial, pending = s.req ~= nil }
end)()"""

READY = (
    "(function() for _, st in pairs(require('qwen_ls').status) do"
    " if st.state == 'ready' then return true end end return false end)()"
)
PENDING = (
    "(function() local s = require('qwen_ls.ghost').state[vim.api.nvim_get_current_buf()];"
    " return s ~= nil and s.req ~= nil end)()"
)


def settings(model: Path, **completion: Any) -> dict[str, Any]:
    return {
        "model": str(model),
        "completion": {"maxTokens": 12, "deadlineMs": 0, "debounceMs": 0, **completion},
    }


@pytest.fixture
def real_editor(tmp_path: Path, nvim_bin: str, tiny_model: Path):
    started: list[Nvim] = []

    def start(**completion: Any) -> Nvim:
        file = tmp_path / "calc.py"
        file.write_text("def add(a, b):\n", encoding="utf-8")
        options = {
            "cmd": [*SERVER, "--log-file", str(tmp_path / "server.log")],
            "settings": settings(tiny_model, **completion),
            "debounce_ms": 20,
        }
        nvim = Nvim(nvim_bin, tmp_path, plugin_init(options), file)
        started.append(nvim)
        nvim.wait_for(READY, timeout=60)
        return nvim

    yield start
    for nvim in started:
        nvim.close()


def wait_ghost(nvim: Nvim, timeout: float = 60) -> dict[str, Any]:
    """The final suggestion (not streamed text), once drawn; the tiny model may answer with nothing, so
    ask again if so."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        g = nvim.lua("return " + GHOST)
        if isinstance(g, dict) and g["text"] and not g["partial"] and not g["pending"]:
            return g
        busy = nvim.lua("return " + PENDING)
        if not busy:
            time.sleep(0.3)
            if not nvim.lua("return " + GHOST):
                nvim.keys("<M-\\>")  # an explicit request, as a user would after a blank answer
        time.sleep(0.1)
    raise TimeoutError("no ghost text from the real server")


def test_plain_vim_lsp_gets_an_inline_completion_item(
    tmp_path: Path, nvim_bin: str, tiny_model: Path
) -> None:
    """Issue 2: a stock Neovim client, no plugin: start the server, open a file, ask, get an item."""
    file = tmp_path / "calc.py"
    file.write_text("def add(a, b):\n    return \n", encoding="utf-8")
    init = f"""
vim.o.swapfile = false
vim.api.nvim_create_autocmd("FileType", {{ pattern = "python", callback = function(ev)
  vim.lsp.start({{
    name = "qwen-ls",
    cmd = vim.json.decode([==[{__import__("json").dumps(SERVER)}]==]),
    root_dir = [==[{tmp_path}]==],
    init_options = vim.json.decode([==[{__import__("json").dumps(settings(tiny_model))}]==]),
    handlers = {{ ["qwen/status"] = function(_, p) _G.STATUS = p end }},
  }}, {{ bufnr = ev.buf }})
end }})
"""
    nvim = Nvim(nvim_bin, tmp_path, init, file)
    try:
        nvim.wait_for("_G.STATUS and _G.STATUS.state == 'ready'", timeout=60)
        caps = nvim.lua("return vim.lsp.get_clients({ bufnr = 0 })[1].server_capabilities")
        assert "inlineCompletionProvider" in caps
        items: list[dict[str, Any]] = []
        for _ in range(5):  # random weights may end at once; each try is a real request
            nvim.lua(
                """
                vim.api.nvim_win_set_cursor(0, { 2, 0 })
                vim.cmd('startinsert!')
                local c = vim.lsp.get_clients({ bufnr = 0 })[1]
                local p = vim.lsp.util.make_position_params(0, c.offset_encoding)
                p.position = { line = 1, character = 11 }
                p.context = { triggerKind = 1 }
                _G.RESULT = nil
                c:request('textDocument/inlineCompletion', p, function(err, res)
                  _G.RESULT = { err = err, res = res }
                end, 0)
                """
            )
            result = nvim.wait_for("_G.RESULT", timeout=60)
            assert "err" not in result, result
            items = (result.get("res") or {}).get("items", [])
            if items and items[0]["insertText"]:
                break
        assert items, "the server answered with no item"
        item = items[0]
        assert isinstance(item["insertText"], str) and item["insertText"]
        assert item["range"]["start"] == {"line": 1, "character": 11}
        assert "<|" not in item["insertText"], "no special tokens leak into the text"
    finally:
        nvim.close()


def test_ghost_text_appears_and_accept_inserts_it(real_editor) -> None:
    nvim = real_editor()
    nvim.keys("<Esc>:1<CR>o    return ")
    g = wait_ghost(nvim)
    assert (g["row"], g["col"]) == (1, len("    return "))
    first, *rest = g["text"].split("\n")
    assert g["inline"] == first and g["nlines"] == len(rest)
    assert nvim.line(2) == "    return ", "nothing is in the buffer before accepting"
    nvim.keys("<M-l>")
    nvim.wait_for("require('qwen_ls.ghost').text() == nil")
    lines = nvim.lines()
    assert lines[1 : 2 + len(rest)] == ["    return " + first, *rest]


def test_accept_word_and_line_insert_part_of_it(real_editor) -> None:
    nvim = real_editor()
    nvim.keys("<Esc>:1<CR>o    x = ")
    g = wait_ghost(nvim)
    full = g["text"]
    nvim.keys("<M-Right>")
    nvim.wait_for("vim.api.nvim_get_current_line() ~= '    x = '")
    after_word = nvim.lua("return " + GHOST)
    inserted = "\n".join(nvim.lines()[1:])[len("    x = ") :]
    assert inserted and full.startswith(inserted)
    assert after_word is None or inserted + after_word["text"] == full
    if after_word is None:
        return  # the suggestion was a single word
    nvim.keys("<M-Down>")
    nvim.wait_for(
        f"#table.concat(vim.api.nvim_buf_get_lines(0, 1, -1, false), '\\n') > {len('    x = ' + inserted)}"
    )
    inserted2 = "\n".join(nvim.lines()[1:])[len("    x = ") :]
    assert full.startswith(inserted2)
    assert "\n" not in inserted2.rstrip("\n")[len(inserted) :] or inserted2[len(inserted)] == "\n"
    remaining = nvim.lua("return " + GHOST)
    assert (remaining["text"] if remaining else "") == full[len(inserted2) :]


def test_typing_on_cancels_the_pending_request(real_editor) -> None:
    # the server waits 1.5 s before generating: the request is still pending when the next key comes
    nvim = real_editor(debounceMs=1500)
    nvim.keys("<Esc>:1<CR>o    return ")
    nvim.wait_for(PENDING)
    cancels = nvim.lua("return require('qwen_ls.ghost').counters.cancels")
    nvim.keys("a")
    nvim.wait_for(f"require('qwen_ls.ghost').counters.cancels > {cancels}")
    # the request for the new position is answered; whatever is shown belongs to it
    nvim.wait_for("not " + PENDING, timeout=60)
    g = nvim.lua("return " + GHOST)
    if g:
        assert (g["row"], g["col"]) == (1, len("    return a")), (
            "the suggestion shown is for the new position"
        )
    assert nvim.line(2) == "    return a"


def test_dismiss_removes_the_suggestion(real_editor) -> None:
    nvim = real_editor()
    nvim.keys("<Esc>:1<CR>o    return ")
    wait_ghost(nvim)
    requests = nvim.lua("return require('qwen_ls.ghost').counters.requests")
    nvim.keys("<C-]>")
    nvim.wait_for("#vim.api.nvim_buf_get_extmarks(0, require('qwen_ls.ghost').ns, 0, -1, {}) == 0")
    time.sleep(0.5)
    assert nvim.lua("return " + GHOST) is None
    assert nvim.line(2) == "    return "
    assert nvim.lua("return require('qwen_ls.ghost').counters.requests") == requests


def test_explain_and_stats_commands(real_editor) -> None:
    nvim = real_editor()
    nvim.keys("<Esc>:1<CR>$:QwenLs explain<CR>")
    nvim.wait_for("vim.bo.buftype == 'nofile' and vim.bo.filetype == 'markdown'", timeout=30)
    text = "\n".join(nvim.lines())
    assert text.startswith("# Completion context")
    assert "calc.py:1:" in text
    nvim.keys(":q<CR>:QwenLs stats<CR>")
    nvim.wait_for("vim.bo.buftype == 'nofile' and vim.bo.filetype == 'lua'", timeout=30)
    assert nvim.lines()[0].startswith("{"), "the stats object is shown"
    status = nvim.lua("return require('qwen_ls').status_lines()")
    assert "ready, model" in status[0] and "tiny.gguf" in status[0]


def test_fix_lists_the_servers_quick_fix_for_another_sources_diagnostic(real_editor) -> None:
    nvim = real_editor()
    titles = nvim.lua(
        """
        local ns = vim.api.nvim_create_namespace("some-linter")
        vim.api.nvim_buf_set_lines(0, 1, -1, false, { "    totl = a + b" })
        vim.diagnostic.set(ns, 0, { { lnum = 1, col = 4, end_lnum = 1, end_col = 8,
          message = "undefined name 'totl'", source = "ruff", severity = vim.diagnostic.severity.ERROR } })
        vim.api.nvim_win_set_cursor(0, { 2, 0 })
        local q = require("qwen_ls")
        local client = q.get_client(0)
        local params = vim.lsp.util.make_range_params(0, client.offset_encoding)
        params.context = { diagnostics = q.line_diagnostics(0, client), only = { "quickfix" } }
        local res = client:request_sync("textDocument/codeAction", params, 10000, 0)
        local titles = {}
        for _, a in ipairs(res and res.result or {}) do table.insert(titles, a.title) end
        return titles
        """
    )
    assert titles == ["Fix with Qwen: undefined name 'totl'"]
