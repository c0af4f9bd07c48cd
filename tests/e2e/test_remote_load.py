"""`qwen-ls bench load` on 127.0.0.1: 8 simulated editors typing at once against one llama_cpp.server;
every request is answered or superseded, none hangs, and every pause gets its completion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qwen_ls.engine.remote.local_server import have_llama_server_extra

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not have_llama_server_extra(),
        reason='needs llama-cpp-python\'s server extra: pip install "llama-cpp-python[server]"',
    ),
]


def test_eight_editors_typing_at_once(tmp_path: Path) -> None:
    from qwen_ls.bench.make_model import write_model

    model = write_model(tmp_path / "tiny.gguf", "tiny")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "qwen_ls",
            "bench",
            "load",
            "--model",
            str(model),
            "--editors",
            "8",
            "--duration",
            "6",
            "--pause-ms",
            "2500",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert report["editors"] == 8
    assert report["keystrokes"] > 100
    # Every request ends one way or another; none hangs.
    assert report["hung"] == 0 and report["errors"] == 0
    assert report["answered"] + report["superseded"] + report["deadlines"] == report["requests"]
    assert report["pauses"] >= 8
    # Completions come back (how many pauses get theirs in time depends on the machine: not asserted).
    assert report["answered"] >= 1 and report["pause_latency_p50_ms"] is not None
    # Cancellation and the debounce keep the server's work near one generation per pause.
    assert report["server_requests_accepted"] == report["sent"]
    assert report["server_generations_started"] <= report["sent"]
    assert report["sent"] < report["keystrokes"] / 4
