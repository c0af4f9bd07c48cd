"""The abort switch: llama.cpp's abort callback is C code (libc's strlen) reading a flag that a cancel
raises, so llama.cpp's compute threads never call into Python."""

from __future__ import annotations

import ctypes
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from qwen_ls.engine.base import CancelToken
from qwen_ls.engine.llama_abort import AbortSwitch
from tests.conftest import needs_llama

ABORT_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p)


class FakeLib:
    """The two llama-cpp-python names the switch uses; records what llama.cpp would be given."""

    ggml_abort_callback = ABORT_CALLBACK

    def __init__(self) -> None:
        self.callback: Any = None
        self.data: Any = None

    def llama_set_abort_callback(self, ctx: Any, callback: Any, data: Any) -> None:
        self.callback, self.data = callback, data


def asks(lib: FakeLib) -> bool:
    """What llama.cpp's compute thread gets when it asks the callback (a C call, as llama.cpp makes it)."""
    return bool(lib.callback(lib.data))


def test_the_callback_says_stop_only_while_armed_for_a_cancelled_token() -> None:
    lib = FakeLib()
    switch = AbortSwitch(lib, ctx=None)
    assert not asks(lib)
    token = CancelToken()
    with switch.armed(token):
        assert not asks(lib)
        threading.Thread(target=token.cancel).start()  # from another thread, as the event loop does
        for _ in range(1000):
            if asks(lib):
                break
            threading.Event().wait(0.001)
        assert asks(lib)
    assert not asks(lib)  # disarmed: the next decode runs


def test_a_token_cancelled_before_arming_stops_the_decode_at_once() -> None:
    lib = FakeLib()
    switch = AbortSwitch(lib, ctx=None)
    token = CancelToken()
    token.cancel()
    with switch.armed(token):
        assert asks(lib)


def test_a_late_cancel_of_an_earlier_decode_does_not_stop_the_next_one() -> None:
    lib = FakeLib()
    switch = AbortSwitch(lib, ctx=None)
    first, second = CancelToken(), CancelToken()
    hooks: list[Any] = []
    with switch.armed(first):
        hooks.append(first._hook)
    with switch.armed(second):
        hooks[0]()  # the first token's hook, run late by a thread that read it before disarming
        assert not asks(lib)
        second.cancel()
        assert asks(lib)


def test_no_switch_without_a_token() -> None:
    lib = FakeLib()
    switch = AbortSwitch(lib, ctx=None)
    with switch.armed(None):
        assert not asks(lib)


@needs_llama
@pytest.mark.slow
def test_bench_abort_reports_the_switch_cost_and_the_cancels(
    tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from qwen_ls.cli import main

    assert (
        main(
            [
                "bench",
                "abort",
                "--model",
                str(tiny_model),
                "--depth",
                "64",
                "--tokens",
                "256",
                "--reps",
                "2",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["pass_ms_no_callback"] > 0 and report["switch_cost_ratio"] > 0
    assert len(report["cancels"]) == 4
    for c in report["cancels"]:
        assert c["outcome"] in ("cancelled", "finished")
        assert c["cache_as_before"] in (True, None)  # never False: an aborted chunk leaves nothing behind
