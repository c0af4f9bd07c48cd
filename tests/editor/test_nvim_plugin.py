"""The Neovim plugin (editors/nvim) in a real headless Neovim against a fake server: ghost text from
typing, accept all / line / word, cancellation of the pending request, dismiss, streaming, commands."""

from __future__ import annotations

import time

import pytest

from tests.editor.nvim_driver import Nvim, read_events, wait_events

pytestmark = [pytest.mark.editor, pytest.mark.slow, pytest.mark.timeout(60)]

GHOST = """(function()
  local ns = require('qwen_ls.ghost').ns
  local marks = vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
  if #marks == 0 then return nil end
  local d = marks[1][4]
  local rest = {}
  for _, l in ipairs(d.virt_lines or {}) do table.insert(rest, l[1][1]) end
  return { row = marks[1][2], col = marks[1][3], text = d.virt_text[1][1], lines = rest,
           pos = d.virt_text_pos }
end)()"""


def ghost(nvim: Nvim) -> dict | None:
    value = nvim.lua("return " + GHOST)
    return value if isinstance(value, dict) else None


def type_line(nvim: Nvim, text: str) -> None:
    """Opens a new line below line 1 and types `text` in insert mode (one batch of input, so no request
    is made before the last key)."""
    nvim.keys("<Esc>:1<CR>o" + text)


def count(events: list[dict], name: str) -> int:
    return sum(1 for e in events if e["event"] == name)


def test_typing_shows_ghost_text_and_accept_inserts_it(editor) -> None:
    nvim, events = editor(fake={"completion": "a + b"})
    type_line(nvim, "    return ")
    shown = nvim.wait_for(GHOST)
    assert shown["text"] == "a + b"
    assert shown["pos"] == "inline"
    assert (shown["row"], shown["col"]) == (1, len("    return "))
    assert nvim.line() == "    return ", "ghost text is not in the buffer"
    request = [e for e in read_events(events) if e["event"] == "inlineCompletion"][-1]
    assert request["position"] == {"line": 1, "character": 11}
    assert request["context"]["triggerKind"] == 2
    nvim.keys("<M-l>")
    nvim.wait_for("vim.api.nvim_get_current_line() == '    return a + b'")
    assert ghost(nvim) is None
    assert nvim.lua("return vim.api.nvim_get_mode().mode") == "i"
    assert nvim.lua("return vim.api.nvim_win_get_cursor(0)") == [2, len("    return a + b")]
    # the accepted text reached the server as an edit, and accepting asked for nothing new
    wait_events(events, lambda ev: any(e["event"] == "didChange" and "return a + b" in e["text"] for e in ev))
    assert count(read_events(events), "inlineCompletion") == 1


def test_multiline_ghost_and_accept_word_then_line(editor) -> None:
    nvim, _ = editor(fake={"completion": "total = a + b\n    return total"})
    type_line(nvim, "    ")
    shown = nvim.wait_for(GHOST)
    assert shown["text"] == "total = a + b"
    assert shown["lines"] == ["    return total"], "the rest of the suggestion is drawn as virtual lines"

    nvim.keys("<M-Right>")
    nvim.wait_for("vim.api.nvim_get_current_line() == '    total'")
    assert nvim.wait_for(GHOST)["text"] == " = a + b"
    nvim.keys("<M-Right>")
    nvim.wait_for("vim.api.nvim_get_current_line() == '    total ='")
    nvim.keys("<M-Down>")
    nvim.wait_for("vim.api.nvim_get_current_line() == '    total = a + b'")
    rest = nvim.wait_for(GHOST)
    assert rest["text"] == "" and rest["lines"] == ["    return total"]
    nvim.keys("<M-Down>")
    nvim.wait_for("#vim.api.nvim_buf_get_lines(0, 0, -1, false) == 3")
    assert nvim.lines() == ["def add(a, b):", "    total = a + b", "    return total"]
    assert ghost(nvim) is None
    assert nvim.lua("return vim.api.nvim_win_get_cursor(0)") == [3, len("    return total")]


def test_typing_on_cancels_the_pending_request(editor) -> None:
    nvim, events = editor(fake={"completion": "a + b", "delay": 3.0})
    type_line(nvim, "    return ")
    first = wait_events(events, lambda ev: count(ev, "inlineCompletion") >= 1)
    first_id = next(e["id"] for e in first if e["event"] == "inlineCompletion")
    nvim.keys("x")
    ev = wait_events(events, lambda ev: any(e["event"] == "cancelled" and e["id"] == first_id for e in ev))
    assert any(e["event"] == "cancelRequest" and e["id"] == first_id for e in ev)
    ev = wait_events(events, lambda ev: count(ev, "inlineCompletion") >= 2)
    second = [e for e in ev if e["event"] == "inlineCompletion"][1]
    assert second["position"] == {"line": 1, "character": 12}
    assert nvim.lua("return require('qwen_ls.ghost').counters.cancels") >= 1
    # the answer to the second request appears, at the new position
    shown = nvim.wait_for(GHOST, timeout=10)
    assert (shown["col"], shown["text"]) == (12, "a + b")


def test_leaving_insert_mode_cancels_and_hides(editor) -> None:
    nvim, events = editor(fake={"completion": "a + b", "delay": 3.0})
    type_line(nvim, "    return ")
    wait_events(events, lambda ev: count(ev, "inlineCompletion") >= 1)
    nvim.keys("<Esc>")
    wait_events(events, lambda ev: count(ev, "cancelled") >= 1)
    assert ghost(nvim) is None


def test_dismiss_removes_the_suggestion_and_asks_nothing_new(editor) -> None:
    nvim, events = editor(fake={"completion": "a + b"})
    type_line(nvim, "    return ")
    nvim.wait_for(GHOST)
    nvim.keys("<C-]>")
    nvim.wait_for("#vim.api.nvim_buf_get_extmarks(0, require('qwen_ls.ghost').ns, 0, -1, {}) == 0")
    time.sleep(0.3)
    assert ghost(nvim) is None
    assert nvim.line() == "    return "
    assert count(read_events(events), "inlineCompletion") == 1
    # with nothing shown, the key does what it did before (<C-]> inserts nothing here)
    nvim.keys("<C-]>y")
    nvim.wait_for("vim.api.nvim_get_current_line() == '    return y'")


def test_typing_along_keeps_the_suggestion_without_a_new_request(editor) -> None:
    nvim, events = editor(fake={"completion": "a + b"})
    type_line(nvim, "    return ")
    nvim.wait_for(GHOST)
    nvim.keys("a ")
    nvim.wait_for("vim.api.nvim_get_current_line() == '    return a '")
    shown = nvim.wait_for(GHOST)
    assert (shown["col"], shown["text"]) == (len("    return a "), "+ b")
    time.sleep(0.2)
    assert count(read_events(events), "inlineCompletion") == 1
    nvim.keys("<M-l>")
    nvim.wait_for("vim.api.nvim_get_current_line() == '    return a + b'")


def test_streamed_text_is_shown_as_it_arrives(editor) -> None:
    nvim, events = editor(
        fake={"completion": "a + b", "stream": ["a", "a +"], "stream_interval": 0.7, "delay": 2.5},
    )
    init = next(e for e in read_events(events) if e["event"] == "initialize")
    assert init["initializationOptions"]["streaming"] is True
    type_line(nvim, "    return ")
    seen: list[str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        g = ghost(nvim)
        if g and (not seen or seen[-1] != g["text"]):
            seen.append(g["text"])
        if seen and seen[-1] == "a + b":
            break
        time.sleep(0.03)
    assert seen == ["a", "a +", "a + b"]
    assert nvim.lua("return require('qwen_ls.ghost').counters.partials") == 2


def test_accepting_streamed_text_cancels_the_rest(editor) -> None:
    nvim, events = editor(
        fake={"completion": "a + b", "stream": ["a +"], "stream_interval": 0.2, "delay": 5.0}
    )
    type_line(nvim, "    return ")
    nvim.wait_for(GHOST)
    nvim.keys("<M-l>")
    nvim.wait_for("vim.api.nvim_get_current_line() == '    return a +'")
    streamed = [e for e in read_events(events) if e["event"] == "partial"][-1]["id"]
    ev = wait_events(events, lambda ev: any(e["event"] == "cancelled" and e["id"] == streamed for e in ev))
    assert not any(e["event"] == "answered" and e["id"] == streamed for e in ev)


def test_settings_reach_the_server(editor) -> None:
    _, events = editor(
        options={"settings": {"model": "tiny.gguf", "completion": {"maxTokens": 7}}, "streaming": False}
    )
    ev = wait_events(events, lambda ev: any(e["event"] == "response" for e in ev))
    init = next(e for e in ev if e["event"] == "initialize")
    assert init["initializationOptions"] == {
        "model": "tiny.gguf",
        "completion": {"maxTokens": 7},
        "streaming": False,
    }
    response = next(e for e in ev if e["event"] == "response")
    assert response["result"] == [init["initializationOptions"]], (
        "workspace/configuration answers section qwen"
    )


def test_commands_status_explain_stats(editor) -> None:
    nvim, events = editor()
    status = nvim.lua("return require('qwen_ls').status_lines()")
    assert "ready, model fake.gguf, last latency 12 ms" in status[0]
    assert nvim.lua("return require('qwen_ls').statusline()") == "qwen ready 12ms"
    nvim.keys(":1<CR>$:QwenLs explain<CR>")
    nvim.wait_for("vim.bo.buftype == 'nofile'")
    text = "\n".join(nvim.lines())
    assert "## 1. util.py · imports (score 0.750)" in text
    assert "def helper():" in text
    ev = read_events(events)
    call = next(e for e in ev if e["event"] == "executeCommand")
    assert call["command"] == "qwen.explainContext"
    assert call["arguments"][0].endswith("/a.py")
    assert call["arguments"][1] == {"line": 0, "character": len("def add(a, b)")}
    nvim.keys(":q<CR>:QwenLs stats<CR>")
    nvim.wait_for("vim.bo.buftype == 'nofile' and vim.bo.filetype == 'lua'")
    assert "requests = 0" in "\n".join(nvim.lines())


def test_restart_starts_a_new_server(editor) -> None:
    nvim, events = editor(fake={"completion": "a + b"})
    first = nvim.lua("return require('qwen_ls').get_client(0).id")
    nvim.keys(":QwenLs restart<CR>")
    nvim.wait_for(
        f"(function() local c = require('qwen_ls').get_client(0); return c and c.id ~= {first} end)()"
    )
    wait_events(events, lambda ev: count(ev, "start") == 2 and count(ev, "initialize") == 2)
    nvim.keys("<Esc>:1<CR>o    return ")
    assert nvim.wait_for(GHOST)["text"] == "a + b", "keys and ghost text work after a restart"


def test_tab_is_left_alone_unless_configured(editor) -> None:
    nvim, _ = editor(fake={"completion": "a + b"})
    desc = nvim.lua("return vim.fn.maparg('<Tab>', 'i', false, true).desc or ''")
    assert not desc.startswith("qwen-ls"), "Tab is not ours by default"
    nvim.keys("<Esc>:1<CR>o<Tab>")
    nvim.wait_for("vim.api.nvim_get_current_line() == '    '")


def test_tab_accepts_when_configured_and_falls_back_otherwise(editor) -> None:
    nvim, _ = editor(fake={"completion": "a + b", "delay": 0.3}, options={"keymaps": {"accept": "<Tab>"}})
    nvim.keys("<Esc>:1<CR>o<Tab>")  # nothing shown yet: a normal Tab
    nvim.wait_for("vim.api.nvim_get_current_line() == '    '")
    nvim.keys("return ")
    nvim.wait_for(GHOST)
    nvim.keys("<Tab>")
    nvim.wait_for("vim.api.nvim_get_current_line() == '    return a + b'")


def test_disable_stops_requests(editor) -> None:
    nvim, events = editor()
    nvim.keys(":QwenLs disable<CR>")
    type_line(nvim, "    return ")
    time.sleep(0.4)
    assert count(read_events(events), "inlineCompletion") == 0
    nvim.keys("<Esc>:QwenLs enable<CR>A ")
    nvim.wait_for(GHOST)


def test_checkhealth(editor) -> None:
    nvim, _ = editor()
    nvim.keys(":checkhealth qwen_ls<CR>")
    nvim.wait_for("vim.bo.filetype == 'checkhealth'")
    text = "\n".join(nvim.lines())
    assert "qwen_ls: Neovim" in text
    assert "OK Neovim 0.11" in text or "Neovim 0.1" in text
    assert "server offers textDocument/inlineCompletion" in text
    assert "client 1: ready, model fake.gguf" in text


def test_non_ascii_line_positions_use_the_negotiated_encoding(editor) -> None:
    # the fake server speaks UTF-16 positions (the LSP default): "é" is 2 bytes but 1 UTF-16 unit
    nvim, events = editor(fake={"completion": "b"})
    type_line(nvim, "    s = 'é' + ")
    shown = nvim.wait_for(GHOST)
    assert shown["col"] == len("    s = 'é' + ".encode())
    request = [e for e in read_events(events) if e["event"] == "inlineCompletion"][-1]
    assert request["position"]["character"] == len("    s = 'é' + ")
    nvim.keys("<M-l>")
    nvim.wait_for("vim.api.nvim_get_current_line() == \"    s = 'é' + b\"")


def test_word_and_line_pieces(editor) -> None:
    nvim, _ = editor()
    cases = nvim.lua(
        """
        local g = require('qwen_ls.ghost')
        local out = {}
        for _, t in ipairs({ 'foo(bar)', '  x = 1', '(a)', '\\n    y', '   ', 'a\\nb' }) do
          table.insert(out, { g.next_word(t), g.next_line(t) })
        end
        return out
        """
    )
    assert cases == [
        ["foo", "foo(bar)"],
        ["  x", "  x = 1"],
        ["(", "(a)"],
        ["\n", "\n    y"],
        ["   ", "   "],
        ["a", "a"],
    ]


def test_no_requests_for_buffers_over_the_size_limit(editor) -> None:
    nvim, events = editor(fake={"completion": "a + b"}, options={"max_buffer_bytes": 10})
    type_line(nvim, "    return ")
    time.sleep(0.4)
    assert count(read_events(events), "inlineCompletion") == 0
    assert ghost(nvim) is None


def test_fix_sends_other_sources_diagnostics_and_applies_the_action(editor) -> None:
    nvim, events = editor(fake={"fix": "total"}, text="def add(a, b):\n    totl = a + b\n")
    nvim.lua(
        """
        local ns = vim.api.nvim_create_namespace("some-linter")
        vim.diagnostic.set(ns, 0, { { lnum = 1, col = 4, end_lnum = 1, end_col = 8,
          message = "undefined name 'totl'", source = "ruff", severity = vim.diagnostic.severity.ERROR } })
        vim.api.nvim_win_set_cursor(0, { 2, 0 })
        """
    )
    nvim.keys(":QwenLs fix<CR>")
    nvim.wait_for("vim.api.nvim_buf_get_lines(0, 1, 2, false)[1] == '    total = a + b'")
    call = next(e for e in read_events(events) if e["event"] == "codeAction")
    assert call["diagnostics"] == [
        {
            "range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 8}},
            "message": "undefined name 'totl'",
            "severity": 1,
            "source": "ruff",
        }
    ]
