"""Stopping a llama.cpp decode in the middle of its pass when its request is cancelled.

llama.cpp's CPU backend asks an abort callback after each node of the compute graph (some 500 per pass
for the 0.5B shape). A Python callback takes Python's GIL each time, and waits for it whenever another
thread runs Python (the workspace index being built, the event loop): the pass then slows down by up
to the interpreter's switch interval per node. So the callback is C code that reads one byte: libc's
`strlen` over the buffer [flag, NUL], which returns 1 (stop) once the flag is raised and 0 before.
(`size_t strlen(const char *)` is called as llama.cpp's `bool (*)(void *)`: one pointer argument in,
0 or 1 in the return register, the same in the C calling conventions of every platform llama.cpp
builds for.) The cancel token raises the flag from whatever thread cancels it. Where libc cannot be
found, a Python callback reads the same flag.

With GPU offload the callback is not asked during the GPU's part of the pass: a cancel stops the
decode at the end of its chunk, as it always did.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

from qwen_ls.engine.base import CancelToken

log = logging.getLogger(__name__)


def _libc_strlen() -> Any | None:
    """libc's strlen as a ctypes function, or None."""
    try:
        if sys.platform == "win32":
            libc: Any = ctypes.cdll.msvcrt
        else:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        return libc.strlen
    except (OSError, AttributeError):
        return None


class AbortSwitch:
    """The abort callback of one llama context, and the flag it reads."""

    def __init__(self, lib: Any, ctx: Any) -> None:
        self._lib, self._ctx = lib, ctx
        self._flag = ctypes.create_string_buffer(2)  # [flag, NUL]
        self._lock = threading.Lock()
        #: bumped whenever the switch is armed or disarmed: a cancel of an earlier decode is ignored
        self._armed = 0
        strlen = _libc_strlen()
        if strlen is not None:
            self._callback = ctypes.cast(strlen, lib.ggml_abort_callback)
            self._data: Any = ctypes.cast(self._flag, ctypes.c_void_p)
        else:  # pragma: no cover - every platform we build for has a libc
            log.debug("libc not found: the abort callback runs in Python")
            flag = self._flag
            self._callback = lib.ggml_abort_callback(lambda _data: flag.raw[0] != 0)
            self._data = None
        self.install()

    def install(self, on: bool = True) -> None:
        """Give llama.cpp the callback (`on`), or none at all (`bench abort` times a pass without it)."""
        if on:
            self._lib.llama_set_abort_callback(self._ctx, self._callback, self._data)
        else:
            self._lib.llama_set_abort_callback(self._ctx, self._lib.ggml_abort_callback(), None)

    @property
    def raised(self) -> bool:
        return self._flag.raw[0] != 0

    @contextlib.contextmanager
    def armed(self, cancel: CancelToken | None) -> Iterator[None]:
        """Inside the block, the decode in flight stops mid-pass once `cancel` is cancelled (None: it
        does not stop)."""
        if cancel is None:
            yield
            return
        armed = self._arm()
        cancel.on_cancel(lambda: self._raise(armed))
        try:
            yield
        finally:
            cancel.on_cancel(None)
            self._arm()

    def _arm(self) -> int:
        with self._lock:
            self._armed += 1
            self._flag[0] = b"\x00"
            return self._armed

    def _raise(self, armed: int) -> None:
        with self._lock:
            if armed == self._armed:
                self._flag[0] = b"\x01"
