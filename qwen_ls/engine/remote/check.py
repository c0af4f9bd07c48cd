"""`qwen-ls check` for a remote engine: latency to the server, the models it serves, its context size,
and whether our tokenizer matches the server's."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from qwen_ls.engine.base import EngineError, Tokenizer

if TYPE_CHECKING:
    from qwen_ls.engine.remote.engine import RemoteEngine

#: Text probed to compare the local and the server's tokenizer.
TOKENIZER_PROBE = "def héllo(x):\n    return x  # ß → λ\t{}\n"


@dataclass
class RemoteCheck:
    """What `qwen-ls check` reports for a remote backend."""

    url: str
    kind: str
    ok: bool = False
    latency_ms: float | None = None
    models: list[str] = field(default_factory=list)
    model: str = ""
    n_ctx: int | None = None
    tokenizer: str = ""
    tokenizer_match: bool | None = None
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"server: {self.url} ({self.kind})"]
        if self.latency_ms is not None:
            out.append(f"latency: {self.latency_ms:.1f} ms (median of 3)")
        if self.models:
            out.append(f"models served: {', '.join(self.models)}")
        out.append(f"model: {self.model or '(server default)'}")
        if self.n_ctx:
            out.append(f"server context: {self.n_ctx} tokens")
        match = {True: "matches the server's", False: "DIFFERS from the server's", None: "not compared"}
        out.append(f"tokenizer: {self.tokenizer} ({match[self.tokenizer_match]})")
        out.extend(f"problem: {p}" for p in self.problems)
        return out


def run_check(engine: RemoteEngine, local_tokenizer: Tokenizer | None = None) -> RemoteCheck:
    settings, wire = engine.settings, engine.wire
    out = RemoteCheck(url=settings.url, kind=engine.kind)
    probe: httpx.Response | None = None
    latencies = []
    for _ in range(3):
        t = time.monotonic()
        try:
            probe = engine.client.request("GET", wire.health_path)
        except EngineError as exc:
            out.problems.append(exc.message)
            return out
        latencies.append((time.monotonic() - t) * 1000.0)
    out.latency_ms = statistics.median(latencies)
    assert probe is not None
    try:
        info = wire.server_info(probe)
        out.models, out.n_ctx = info.models, info.n_ctx
        if settings.model and info.models and info.models_are_names and settings.model not in info.models:
            out.problems.append(f"the server does not list the model {settings.model!r}")
    except (EngineError, ValueError) as exc:
        out.problems.append(f"could not read the server's model information: {exc}")
    out.model = engine.model_name() or ""
    local = local_tokenizer or engine.local_tokenizer
    out.tokenizer = "local GGUF" if local is not None else "the server's"
    if local is not None:
        try:
            remote = wire.tokenize(TOKENIZER_PROBE, special=False)
            out.tokenizer_match = remote == local.tokenize(TOKENIZER_PROBE)
            if not out.tokenizer_match:
                out.problems.append("the local tokenizer differs from the server's: budgets will be off")
        except (EngineError, ValueError, KeyError) as exc:
            out.problems.append(f"could not compare tokenizers: {exc}")
    out.ok = not out.problems
    return out
