"""The server's main loop over a byte stream (stdio, or one TCP connection): frames in, answers out.

A daemon thread reads frames (`framing.FrameReader`) and hands them to the event loop, where
`QwenProtocol.handle_frame` answers or dispatches each one. The loop ends on `exit` (code 0 after
`shutdown`, 1 without), at the end of the input (the same codes: a client that goes away without
`shutdown` did not end the session cleanly), or when the client's end of the output is closed (1).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import socket
import threading
from typing import Any, BinaryIO

from qwen_ls.lsp.framing import Frame, FrameReader
from qwen_ls.lsp.jsonrpc import QwenProtocol

log = logging.getLogger(__name__)

_STOP = object()
_M_MMAP_THRESHOLD = -3


class _Writer:
    """Writes whole frames and flushes; pygls's writer interface."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def write(self, data: bytes) -> None:
        self._stream.write(data)
        self._stream.flush()

    def close(self) -> None:
        try:
            self._stream.close()
        except OSError:
            pass


def serve_stdio(server: Any, stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Serve on a pair of streams until exit; returns the process exit code."""
    return_big_blocks_to_the_os()
    return asyncio.run(_serve(server, stdin, stdout))


def return_big_blocks_to_the_os() -> None:
    """Make glibc map every block of 1 MiB or more on its own, so freeing it gives the memory back.

    glibc raises its mmap threshold after a large block is freed (up to 32 MiB), and from then on
    serves such blocks from the heap, which it rarely shrinks: 20 MB of a closed document's text
    stayed in the process (issue 15). A fixed threshold turns that adjustment off.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 1 << 20)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def serve_tcp(server: Any, host: str, port: int) -> int:
    """Listen on host:port and serve the first client that connects (editors start one server each)."""
    with socket.create_server((host, port)) as listener:
        log.info("listening on %s:%d", host, port)
        conn, addr = listener.accept()
    log.info("client connected from %s", addr)
    with conn, conn.makefile("rb") as rfile, conn.makefile("wb") as wfile:
        return serve_stdio(server, rfile, wfile)


async def _serve(server: Any, stdin: BinaryIO, stdout: BinaryIO) -> int:
    protocol: QwenProtocol = server.protocol
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def post(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is gone: the server is already stopping
            pass

    protocol.set_writer(_Writer(stdout), include_headers=True)
    protocol.on_stop = lambda: post(_STOP)
    server._stop_event = threading.Event()
    read = _raw_reader(stdin)
    threading.Thread(target=_pump, args=(FrameReader(read), post), name="qwen-ls-reader", daemon=True).start()

    reason = "the client closed the input"
    while True:
        item = await queue.get()
        if item is _STOP:
            reason = "exit" if protocol.exit_code is not None else "the client closed the output"
            break
        if item is None:
            break
        protocol.handle_frame(item)
    code = protocol.exit_code
    if code is None:
        code = 0 if protocol._shutdown else 1
    log.info("stopping (%s), exit code %d", reason, code)
    protocol.closed = True  # nothing more goes out, whatever is still running
    _stop_services(server)
    return code


def _raw_reader(stream: BinaryIO) -> Any:
    """Reads straight from the file descriptor when there is one: a thread blocked inside a buffered
    reader holds its lock, and the interpreter aborts at exit when it cannot take that lock."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return getattr(stream, "read1", None) or stream.read

    def read(n: int) -> bytes:
        return os.read(fd, n)

    return read


def _pump(reader: FrameReader, post: Any) -> None:
    try:
        while True:
            frame: Frame | None = reader.next_frame()
            post(frame)
            if frame is None:
                return
    except Exception:
        log.exception("the reader failed")
        post(None)


def _stop_services(server: Any) -> None:
    """Stop background work so the process can end promptly (daemon threads aside)."""
    services = getattr(server, "services", None)  # qwen_ls.app.Services: context, repair, lane
    if services is not None:
        try:
            services.close()
        except Exception:
            log.debug("closing the services failed", exc_info=True)
    if server._stop_event is not None:
        server._stop_event.set()
    pool = getattr(server, "_thread_pool", None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
