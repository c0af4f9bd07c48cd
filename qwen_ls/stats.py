"""Per-request metrics and their summary (`qwen.stats`, the log at DEBUG, the latency benchmark)."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RequestMetrics:
    kind: str = "inline"
    uri: str = ""
    #: asked for explicitly (not while typing)
    invoked: bool = False
    #: `completion.Outcome.label`: shown, typed-ahead, superseded, cancelled or empty:<why>
    outcome: str = ""
    prompt_tokens: int = 0
    reused: int = 0
    shifted: int = 0
    evaluated: int = 0
    generated: int = 0
    context_tokens: int = 0
    ttft_ms: float = 0.0
    prefill_ms: float = 0.0
    generate_ms: float = 0.0
    total_ms: float = 0.0
    stop_reason: str = ""
    #: generation (not just prefill) began for this request
    generation_started: bool = False
    at: float = field(default_factory=time.time)

    def line(self) -> str:
        return (
            f"{self.kind} {self.outcome} prompt={self.prompt_tokens} reused={self.reused} "
            f"shifted={self.shifted} "
            f"evaluated={self.evaluated} generated={self.generated} ttft={self.ttft_ms:.0f}ms "
            f"total={self.total_ms:.0f}ms stop={self.stop_reason}"
        )


def _share(reused: int, evaluated: int) -> float:
    return round(reused / (reused + evaluated), 4) if reused + evaluated else 0.0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class Stats:
    """A bounded record of recent requests, thread-safe."""

    def __init__(self, keep: int = 2000) -> None:
        self._lock = threading.Lock()
        self._recent: deque[RequestMetrics] = deque(maxlen=keep)
        self._outcomes: Counter[str] = Counter()
        self.totals = Counter[str]()
        self.started = time.time()
        #: more named sections of the summary, each read when the summary is made
        self.sections: dict[str, Callable[[], Any]] = {}

    def record(self, m: RequestMetrics) -> None:
        with self._lock:
            self._recent.append(m)
            self._outcomes[m.outcome.split(":")[0] if m.outcome.startswith("empty") else m.outcome] += 1
            if m.outcome.startswith("empty"):
                self._outcomes[m.outcome] += 1
            self.totals["prompt"] += m.prompt_tokens
            self.totals["reused"] += m.reused
            self.totals["shifted"] += m.shifted
            self.totals["evaluated"] += m.evaluated
            self.totals["generated"] += m.generated
            self.totals["generationsStarted"] += int(m.generation_started)

    @property
    def last(self) -> RequestMetrics | None:
        with self._lock:
            return self._recent[-1] if self._recent else None

    def recent(self, n: int) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(m) for m in list(self._recent)[-n:]]

    def summary(self) -> dict[str, Any]:
        with self._lock:
            recent = list(self._recent)
            outcomes = dict(self._outcomes)
            totals = dict(self.totals)
        ran = [m for m in recent if m.generated or m.evaluated]
        shown = [m.total_ms for m in recent if m.outcome == "shown"]
        return {
            "requests": len(recent),
            "outcomes": outcomes,
            # of the prompt tokens the engine had to hold, the share that came from the KV cache
            "kvReuse": _share(totals.get("reused", 0) + totals.get("shifted", 0), totals.get("evaluated", 0)),
            "promptTokens": totals,
            "latencyMs": {"p50": round(_pct(shown, 50), 1), "p95": round(_pct(shown, 95), 1)},
            "ttftMs": {"p50": round(_pct([m.ttft_ms for m in ran], 50), 1)},
            "last": asdict(recent[-1]) if recent else None,
            "generationsStarted": totals.get("generationsStarted", 0),
            "uptimeS": round(time.time() - self.started, 1),
            **{name: read() for name, read in list(self.sections.items())},
        }
