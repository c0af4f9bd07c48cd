"""Headless Neovim 0.11 (plain `vim.lsp`, no plugin) against `qwen-ls serve` with a scripted repair
engine: a diagnostic in the buffer, the "Fix with Qwen" quick fix listed, resolved by the editor
(`codeAction/resolve`) and applied; the buffer ends up fixed and nothing else changed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.editor.nvim_driver import Nvim

pytestmark = [pytest.mark.editor, pytest.mark.slow, pytest.mark.timeout(90)]

SCRIPT = Path(__file__).resolve().parents[1] / "e2e" / "repair_server.py"
TEXT = "def mean(xs):\n    if not xs\n        return 0.0\n    return sum(xs) / len(xs)\n"
ANSWER = "```python\ndef mean(xs):\n    if not xs:\n        return 0.0\n    return sum(xs) / len(xs)\n```"

INIT = """
vim.o.swapfile = false
vim.o.shadafile = "NONE"
vim.lsp.log.set_level("warn")
_G.repair = { titles = nil }
vim.api.nvim_create_autocmd("FileType", {
  pattern = "python",
  callback = function(ev)
    vim.lsp.start({
      name = "qwen-ls",
      cmd = vim.json.decode([==[%(cmd)s]==]),
      root_dir = vim.fn.getcwd(),
      init_options = vim.json.decode([==[%(options)s]==]),
    }, { bufnr = ev.buf })
  end,
})
"""

DIAGNOSTIC = """
local ns = vim.api.nvim_create_namespace("external-linter")
vim.diagnostic.set(ns, 0, { {
  lnum = 1, col = 4, end_lnum = 1, end_col = 13,
  message = "expected ':'", source = "Pylance", severity = vim.diagnostic.severity.ERROR,
} })
_G.repair.lsp_diag = {
  range = { start = { line = 1, character = 4 }, ["end"] = { line = 1, character = 13 } },
  message = "expected ':'", source = "Pylance", severity = 1,
}
return #vim.diagnostic.get(0)
"""

LIST = """
local client = vim.lsp.get_clients({ bufnr = 0, name = "qwen-ls" })[1]
local params = vim.lsp.util.make_range_params(0, client.offset_encoding)
params.context = { diagnostics = { _G.repair.lsp_diag } }
local result = client:request_sync("textDocument/codeAction", params, 5000, 0)
local titles = {}
for _, action in ipairs(result.result or {}) do
  table.insert(titles, { title = action.title, kind = action.kind, has_edit = action.edit ~= nil })
end
return titles
"""

APPLY = """
vim.lsp.buf.code_action({
  context = { diagnostics = { _G.repair.lsp_diag }, only = { "quickfix" } },
  apply = true,
})
return true
"""


def test_neovim_lists_resolves_and_applies_the_fix(tmp_path: Path, nvim_bin: str) -> None:
    file = tmp_path / "stats.py"
    file.write_text(TEXT, encoding="utf-8")
    init = INIT % {
        "cmd": json.dumps([sys.executable, str(SCRIPT)]),
        "options": json.dumps({"enable": False, "repair": {"model": "scripted-instruct"}}),
    }
    nvim = Nvim(nvim_bin, tmp_path, init, file, env={"QWEN_LS_TEST_REPAIR_ANSWER": ANSWER})
    try:
        nvim.wait_for("#vim.lsp.get_clients({ bufnr = 0, name = 'qwen-ls' }) > 0", timeout=30)
        nvim.wait_for("vim.lsp.get_clients({ bufnr = 0 })[1].initialized", timeout=30)
        assert nvim.lua(DIAGNOSTIC) == 1
        titles = nvim.lua(LIST)
        assert titles == [{"title": "Fix with Qwen: expected ':'", "kind": "quickfix", "has_edit": False}]
        nvim.lua(APPLY)
        nvim.wait_for("vim.api.nvim_buf_get_lines(0, 1, 2, false)[1] == '    if not xs:'", timeout=30)
        assert "\n".join(nvim.lines()) + "\n" == TEXT.replace("if not xs\n", "if not xs:\n")
    finally:
        nvim.close()
