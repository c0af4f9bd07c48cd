"""Local inference servers for tests and `qwen-ls bench load`, run as child processes on 127.0.0.1:
llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`, the `[server]` extra) and
llama.cpp's own `llama-server` binary (built by `.ci/build-llama-server.sh`). Never used by `serve`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

#: Where `.ci/build-llama-server.sh` put the llama-server binary (CI exports it; unset locally).
LLAMA_SERVER_ENV = "QWEN_LS_LLAMA_SERVER"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def have_llama_server_extra() -> bool:
    try:
        import llama_cpp.server.app  # noqa: F401
    except Exception:
        return False
    return True


def llama_server_binary() -> Path | None:
    """The llama-server binary named by $QWEN_LS_LLAMA_SERVER, if it is there and executable."""
    value = os.environ.get(LLAMA_SERVER_ENV, "")
    path = Path(value).expanduser() if value else None
    return path if path is not None and path.is_file() and os.access(path, os.X_OK) else None


class ServerProcess:
    """A server child process; stdout and stderr go to a log file we can read. `ready_path` answers 200
    once the model is loaded. Subclasses name the program and how it spells its flags."""

    ready_path = "/health"
    ctx_flag = "--ctx-size"
    threads_flag = "--threads"
    #: flags this server always gets, after the common ones
    fixed_flags: tuple[str, ...] = ()

    def __init__(
        self,
        model: Path,
        port: int,
        log_path: Path,
        n_ctx: int = 2048,
        threads: int = 1,
        extra: Sequence[str] = (),
    ) -> None:
        self.model = model
        self.port = port
        self.log_path = log_path
        self.n_ctx = n_ctx
        self.threads = threads
        self.extra = list(extra)
        self.url = f"http://127.0.0.1:{port}"
        #: extra environment variables for the child
        self.env: dict[str, str] = {}
        self.proc: subprocess.Popen[bytes] | None = None

    def program(self) -> list[str]:
        raise NotImplementedError

    def command(self) -> list[str]:
        return [
            *self.program(),
            "--model",
            str(self.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            self.ctx_flag,
            str(self.n_ctx),
            self.threads_flag,
            str(self.threads),
            *self.fixed_flags,
            *self.extra,
        ]

    def start(self, timeout: float = 60.0) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.proc = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        log.close()
        name = Path(self.command()[0]).name
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.log_tail()}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{name} did not start in {timeout}s: {self.log_tail()}")

    def stop(self) -> None:
        """Kill the server (SIGKILL: as if it crashed) and wait for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): it keeps its sockets and answers nothing, like a hung server."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, n: int = 2000) -> str:
        return self.log_text()[-n:]


class LlamaCppServer(ServerProcess):
    """`python -m llama_cpp.server` (OpenAI-compatible)."""

    ready_path = "/v1/models"
    ctx_flag = "--n_ctx"
    threads_flag = "--n_threads"

    def program(self) -> list[str]:
        return [sys.executable, "-m", "llama_cpp.server"]


class LlamaServer(ServerProcess):
    """llama.cpp's `llama-server` binary: one slot, no web UI, greedy-friendly defaults."""

    fixed_flags = ("--parallel", "1", "--no-webui")

    def __init__(
        self,
        binary: Path,
        model: Path,
        port: int,
        log_path: Path,
        n_ctx: int = 2048,
        threads: int = 1,
        extra: Sequence[str] = (),
    ) -> None:
        super().__init__(model, port, log_path, n_ctx, threads, extra)
        self.binary = binary

    def program(self) -> list[str]:
        return [str(self.binary)]
