"""`qwen-ls serve` with a scripted repair engine, started as a subprocess by the repair e2e tests.

The engine answers every repair with the text in $QWEN_LS_TEST_REPAIR_ANSWER (after
$QWEN_LS_TEST_REPAIR_DELAY seconds, honouring cancellation), and appends each prompt it receives, with
special tokens as text, to the file $QWEN_LS_TEST_REPAIR_PROMPTS when set.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from qwen_ls import qwen
from qwen_ls.engine.base import (
    CancelToken,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
    TextCallback,
)
from tests.helpers import FakeTokenizer

_SPECIAL_BY_ID = {v: k for k, v in qwen.SPECIAL_IDS.items()}


class ScriptedEngine:
    def __init__(self) -> None:
        self._tokenizer = FakeTokenizer()
        self._info = ModelInfo(path="scripted.gguf", name="scripted-instruct", chat_template=None)
        self.closed = False

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def tokenizer(self) -> FakeTokenizer:
        return self._tokenizer

    @property
    def n_ctx(self) -> int:
        return 32768

    def _text(self, tokens: Sequence[int]) -> str:
        return "".join(_SPECIAL_BY_ID.get(t) or self._tokenizer.detokenize([t]) for t in tokens)

    def generate(
        self, request: GenerationRequest, cancel: CancelToken, on_text: TextCallback | None = None
    ) -> GenerationResult:
        log = os.environ.get("QWEN_LS_TEST_REPAIR_PROMPTS")
        if log:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(self._text(request.prompt) + "\n=====\n")
        end = time.monotonic() + float(os.environ.get("QWEN_LS_TEST_REPAIR_DELAY", "0"))
        while time.monotonic() < end:
            if cancel.cancelled:
                return GenerationResult(stop_reason="cancelled")
            time.sleep(0.02)
        answer = os.environ.get("QWEN_LS_TEST_REPAIR_ANSWER", "")
        return GenerationResult(text=answer, stop_reason="stop", n_prompt=len(request.prompt))

    def close(self) -> None:
        self.closed = True


def main() -> int:
    from qwen_ls.app import create_server
    from qwen_ls.commands.serve import protect_stdout
    from qwen_ls.log import setup_cli_logging
    from qwen_ls.lsp.serve import serve_stdio

    setup_cli_logging("INFO")
    server = create_server(repair_loader=lambda model, settings, cancel: ScriptedEngine())
    rpc_out: Any = protect_stdout()
    return serve_stdio(server, sys.stdin.buffer, rpc_out)


if __name__ == "__main__":
    raise SystemExit(main())
