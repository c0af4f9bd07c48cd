"""A small JSON-RPC client over a server's stdio for `bench soak`: counts every request and its answer."""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any


def proc_stats(pid: int) -> tuple[int, int, int]:
    """(RSS in KiB, open file descriptors, threads) of a Linux process."""
    rss = threads = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads


class RpcClient:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.sent = 0
        self.answered = 0
        self.errors: Counter[str] = Counter()
        self._next = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._watchers: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Future[dict[str, Any]]]] = []
        self.stderr_tail = b""
        self._tasks = [asyncio.ensure_future(self._read()), asyncio.ensure_future(self._read_stderr())]

    @classmethod
    async def start(cls, cmd: list[str]) -> RpcClient:
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=1 << 26,
        )
        return cls(proc)

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(1 << 16):
            self.stderr_tail = (self.stderr_tail + chunk)[-20000:]

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        reader = self.proc.stdout
        while True:
            length = None
            while True:
                line = await reader.readline()
                if not line:
                    return
                if not line.strip():
                    break
                name, _, value = line.decode("ascii", "replace").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if length is None:
                continue
            self._dispatch(json.loads(await reader.readexactly(length)))

    def _dispatch(self, msg: dict[str, Any]) -> None:
        if "method" in msg:
            if "id" in msg:  # the server asks (progress, configuration, applyEdit)
                self._send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
            for predicate, future in list(self._watchers):
                if not future.done() and predicate(msg):
                    future.set_result(msg)
            return
        msg_id = msg.get("id")
        if not isinstance(msg_id, int) or msg_id not in self._waiting:
            return
        future = self._waiting.pop(msg_id)
        self.answered += 1
        if "error" in msg:
            self.errors[str(msg["error"].get("code"))] += 1
        if not future.done():
            future.set_result(msg)

    def _send(self, msg: dict[str, Any]) -> None:
        body = json.dumps(msg).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: Any) -> int:
        self._next += 1
        self._waiting[self._next] = asyncio.get_running_loop().create_future()
        self.sent += 1
        self._send({"jsonrpc": "2.0", "id": self._next, "method": method, "params": params})
        return self._next

    def cancel(self, msg_id: int) -> None:
        if msg_id in self._waiting:
            self.notify("$/cancelRequest", {"id": msg_id})

    async def wait(self, msg_id: int, timeout: float) -> dict[str, Any] | None:
        future = self._waiting.get(msg_id)
        if future is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            return None

    async def call(self, method: str, params: Any, timeout: float) -> dict[str, Any] | None:
        return await self.wait(self.request(method, params), timeout)

    async def wait_notification(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> None:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._watchers.append((predicate, future))
        try:
            await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            self._watchers.remove((predicate, future))

    async def drain(self, timeout: float) -> None:
        """Wait until every request sent so far is answered (or `timeout`)."""
        pending = [f for f in self._waiting.values() if not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def close(self) -> int | None:
        try:
            await self.call("shutdown", None, 30)
            self.notify("exit", None)
            assert self.proc.stdin is not None
            await self.proc.stdin.drain()
            self.proc.stdin.close()
            await asyncio.wait_for(self.proc.wait(), 30)
        except (asyncio.TimeoutError, ConnectionError):
            self.proc.kill()
            await self.proc.wait()
        for task in self._tasks:
            task.cancel()
        return self.proc.returncode
