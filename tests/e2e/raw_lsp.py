"""A raw-bytes LSP client over stdio for protocol tests: sends any bytes, checks every byte it reads back.

Unlike pytest-lsp's client it can send broken frames and bodies; every byte the server writes must be
a well-formed frame whose body is strict JSON (no NaN/Infinity), or the test fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

SERVER = [sys.executable, "-m", "qwen_ls", "serve"]


def frame(message: Any) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _strict_constant(name: str) -> Any:
    raise AssertionError(f"non-JSON constant {name} on the channel")


class RawClient:
    """One `qwen-ls serve` process; `messages` holds everything it wrote, parsed strictly."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.messages: list[dict[str, Any]] = []
        self.stray: list[bytes] = []
        self._buf = b""
        self._arrived = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())
        #: everything the server wrote to stderr (the first 4 MB) and how many bytes in all
        self.stderr = bytearray()
        self.stderr_bytes = 0
        self._err_reader = asyncio.ensure_future(self._read_stderr())
        self.next_id = 1000

    @classmethod
    async def start(cls, args: list[str], env: dict[str, str] | None = None) -> RawClient:
        proc = await asyncio.create_subprocess_exec(
            *SERVER,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **(env or {})},
            limit=1 << 26,
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            chunk = await self.proc.stdout.read(1 << 16)
            if not chunk:
                self._arrived.set()
                return
            self._buf += chunk
            self._parse()
            self._arrived.set()

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(1 << 16):
            self.stderr_bytes += len(chunk)
            if len(self.stderr) < 4 << 20:
                self.stderr += chunk

    def _parse(self) -> None:
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            length = None
            for line in self._buf[:end].split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length" and value.strip().isdigit():
                    length = int(value)
                elif name.strip().lower() != b"content-type":
                    self.stray.append(self._buf[:end])
            if length is None:
                self.stray.append(self._buf[: end + 4])
                self._buf = self._buf[end + 4 :]
                continue
            if len(self._buf) < end + 4 + length:
                return
            body = self._buf[end + 4 : end + 4 + length]
            self._buf = self._buf[end + 4 + length :]
            try:
                msg = json.loads(body, parse_constant=_strict_constant)
            except (ValueError, AssertionError):
                self.stray.append(body)
                continue
            self.messages.append(msg)
            if "method" in msg and "id" in msg:  # the server asks (progress, configuration): answer
                self.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)

    def send(self, message: Any) -> None:
        self.send_raw(frame(message))

    def notify(self, method: str, params: Any) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: Any = None, **extra: Any) -> int:
        self.next_id += 1
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method, **extra}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return self.next_id

    async def wait_for(self, predicate: Any, timeout: float = 10) -> dict[str, Any] | None:
        """The first message matching `predicate` (None when none came within `timeout`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = 0
        while True:
            for msg in self.messages[seen:]:
                if predicate(msg):
                    return msg
            seen = len(self.messages)
            left = deadline - loop.time()
            if left <= 0 or self._reader.done():
                return None
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except asyncio.TimeoutError:
                return None

    async def response(self, msg_id: Any, timeout: float = 10) -> dict[str, Any] | None:
        return await self.wait_for(lambda m: m.get("id") == msg_id and "method" not in m, timeout)

    async def call(self, method: str, params: Any = None, timeout: float = 10) -> dict[str, Any] | None:
        return await self.response(self.request(method, params), timeout)

    async def initialize(self, root: Path, options: dict[str, Any], capabilities: dict[str, Any]) -> None:
        params = {
            "processId": None,
            "rootUri": root.as_uri(),
            "capabilities": capabilities,
            "initializationOptions": options,
        }
        answer = await self.call("initialize", params, timeout=90)  # includes the process start
        assert answer is not None and "result" in answer, answer
        self.notify("initialized", {})

    async def wait_ready(self, timeout: float = 90) -> None:
        status = await self.wait_for(
            lambda m: m.get("method") == "qwen/status" and m["params"].get("state") == "ready", timeout
        )
        assert status is not None, "the model never became ready"

    async def close(self, timeout: float = 15) -> tuple[int | None, bytes]:
        """End the process (shutdown + exit when it still runs); (exit code, stderr)."""
        if self.proc.returncode is None:
            try:
                self.request("shutdown")
                self.notify("exit", None)
                assert self.proc.stdin is not None
                await self.proc.stdin.drain()
                self.proc.stdin.close()
            except (ConnectionError, RuntimeError):
                pass
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        await self._reader
        await self._err_reader
        return self.proc.returncode, bytes(self.stderr)
