"""`qwen-ls bench load`: several simulated editors typing at once against one shared inference server.

Starts llama-cpp-python's OpenAI-compatible server on 127.0.0.1 with the given model (or uses --url),
then runs N editors, each with its own remote engine and worker thread as a qwen-ls instance would have:
every keystroke supersedes (cancels) the editor's request in flight, a new request goes out after a short
debounce, and the user pauses at line ends. The run is bounded in time and stops by itself.

Reported: every request is answered, superseded or failed (none may hang); latency from the last keystroke
to the answer at each pause (p50/p95); pauses never answered before the user typed on; and how many
generations the server started per pause (from its access log), which is what cancellation saves.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: The file each editor types into: the body of `resize` is typed back, character by character.
SAMPLE_HEAD = '''"""Image helpers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    width: int
    height: int


def resize(size: Size, max_side: int) -> Size:
'''
SAMPLE_BODY = """    if max_side <= 0:
        raise ValueError("max_side must be positive")
    longest = max(size.width, size.height)
    if longest <= max_side:
        return size
    scale = max_side / longest
    width = max(1, round(size.width * scale))
    height = max(1, round(size.height * scale))
    return Size(width, height)
"""
SAMPLE_TAIL = """

def area(size: Size) -> int:
    return size.width * size.height
"""


@dataclass
class Request:
    editor: int
    issued: float
    pause: bool
    cancel: Any = None
    outcome: str = "pending"  # answered, superseded, debounced, error, deadline, hung
    sent: bool = False
    latency: float | None = None
    text: str = ""


@dataclass
class LoadReport:
    editors: int
    duration_s: float
    model: str
    url: str
    keystrokes: int = 0
    requests: int = 0
    sent: int = 0
    answered: int = 0
    superseded: int = 0
    debounced: int = 0
    errors: int = 0
    deadlines: int = 0
    hung: int = 0
    pauses: int = 0
    pauses_answered: int = 0
    pause_latency_p50_ms: float | None = None
    pause_latency_p95_ms: float | None = None
    server_requests_accepted: int | None = None
    server_generations_started: int | None = None
    server_generations_per_pause: float | None = None
    sent_per_pause: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def lines(self) -> list[str]:
        def ms(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.0f} ms"

        per_pause = self.server_generations_per_pause
        started = (
            "n/a" if per_pause is None else f"{per_pause:.2f} ({self.server_generations_started} in all)"
        )
        return [
            f"load: {self.editors} editors typing at once for {self.duration_s:.1f} s against {self.url}",
            f"model: {self.model}",
            f"keystrokes {self.keystrokes}, requests {self.requests}: answered {self.answered}, "
            f"superseded {self.superseded} (in flight {self.superseded - self.debounced}, "
            f"before sending {self.debounced}), errors {self.errors}, deadline {self.deadlines}, "
            f"hung {self.hung}",
            f"pauses {self.pauses}: answered in time {self.pauses_answered}, "
            f"latency p50 {ms(self.pause_latency_p50_ms)}, p95 {ms(self.pause_latency_p95_ms)}",
            f"requests sent per pause {self.sent_per_pause:.2f} (server accepted "
            f"{'n/a' if self.server_requests_accepted is None else self.server_requests_accepted}); "
            f"generations the server started per pause {started}",
        ]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Editor:
    """One simulated editor + qwen-ls: a typing thread and a worker thread that owns the engine."""

    def __init__(self, index: int, engine: Any, args: argparse.Namespace, stop_at: float) -> None:
        from qwen_ls.prompt import PromptSettings, SpecialIds, budgets

        self.index = index
        self.engine = engine
        self.args = args
        self.stop_at = stop_at
        self.tok = engine.tokenizer
        self.ids = SpecialIds.from_tokenizer(self.tok)
        self.budgets = budgets(PromptSettings(max_prompt_tokens=args.prompt_tokens))
        self.requests: list[Request] = []
        self.keystrokes = 0
        self._cond = threading.Condition()
        self._pending: tuple[Request, list[int]] | None = None
        self._current: Request | None = None
        self._typing_done = False
        self._worker = threading.Thread(target=self._work, name=f"editor-{index}-worker", daemon=True)
        self._typist = threading.Thread(target=self._type, name=f"editor-{index}-typist", daemon=True)
        self.hint: int | None = None
        self.debounce = make_debounce(args.debounce_ms)

    def start(self) -> None:
        self._worker.start()
        self._typist.start()

    def join(self, timeout: float) -> bool:
        self._typist.join(timeout)
        self._worker.join(max(0.1, timeout))
        return not self._worker.is_alive()

    def _prompt(self, typed: str) -> list[int]:
        from qwen_ls.prompt import assemble, build_window

        text = SAMPLE_HEAD + typed + SAMPLE_TAIL
        offset = len(SAMPLE_HEAD) + len(typed)
        window = build_window(self.tok, text, offset, self.budgets[0], self.budgets[1], self.hint)
        self.hint = window.start_line
        prompt = assemble(
            self.tok, self.ids, repo_name="imaging", path=f"src/editor{self.index}.py", window=window
        )
        return prompt.tokens

    def _type(self) -> None:
        try:
            self._type_body()
        finally:
            with self._cond:
                self._typing_done = True
                self._cond.notify_all()

    def _type_body(self) -> None:
        from qwen_ls.engine.base import CancelToken

        interval = 1.0 / self.args.cps
        rng = random.Random(self.args.seed * 1000 + self.index)
        # Editors start a little apart, as people do.
        time.sleep(0.05 * self.index)
        body = SAMPLE_BODY
        for i in range(1, len(body) + 1):
            if time.monotonic() >= self.stop_at:
                break
            ch = body[i - 1]
            at_line_end = ch == "\n"
            self.keystrokes += 1
            self.debounce.keystroke()
            req = Request(editor=self.index, issued=time.monotonic(), pause=at_line_end, cancel=CancelToken())
            tokens = self._prompt(body[:i])
            with self._cond:
                # Latest wins: the newest keystroke supersedes whatever is pending or in flight.
                if self._pending is not None:
                    old = self._pending[0]
                    old.outcome = "debounced"
                    old.cancel.cancel("superseded")
                if self._current is not None:
                    self._current.cancel.cancel("superseded")
                self.requests.append(req)
                self._pending = (req, tokens)
                self._cond.notify_all()
            # Uneven gaps between keystrokes, as people type.
            time.sleep(self.args.pause_ms / 1000.0 if at_line_end else interval * rng.uniform(0.5, 1.6))

    def _work(self) -> None:
        from qwen_ls import qwen
        from qwen_ls.engine.base import GenerationRequest

        stop_ids = frozenset(qwen.SPECIAL_IDS[t] for t in qwen.STOP_TEXTS)
        while True:
            with self._cond:
                while self._pending is None and not self._typing_done:
                    self._cond.wait()
                if self._pending is None:
                    return
                req, tokens = self._pending
                # Debounce: wait, and give up if a newer keystroke arrives meanwhile.
                send_at = req.issued + self.debounce.delay()
                while self._pending is not None and self._pending[0] is req and time.monotonic() < send_at:
                    self._cond.wait(send_at - time.monotonic())
                if self._pending is None or self._pending[0] is not req:
                    continue
                self._pending = None
                self._current = req
            req.sent = True
            request = GenerationRequest(
                tokens,
                max_tokens=self.args.max_tokens,
                stop_ids=stop_ids,
                deadline=time.monotonic() + self.args.deadline_ms / 1000.0,
            )
            result = self.engine.generate(request, req.cancel)
            done = time.monotonic()
            with self._cond:
                self._current = None
            if result.stop_reason == "cancelled":
                req.outcome = "superseded"
            elif result.stop_reason == "error":
                req.outcome = "error"
            elif result.stop_reason == "deadline":
                req.outcome = "deadline"
            else:
                req.outcome = "answered"
                req.latency = done - req.issued
                req.text = result.text


class _FixedDebounce:
    def __init__(self, ms: int) -> None:
        self.ms = max(0, ms)

    def keystroke(self) -> None:
        pass

    def delay(self) -> float:
        return self.ms / 1000.0


def make_debounce(ms: int) -> Any:
    """qwen-ls's own debounce (adaptive when ms < 0), so the load is what real editors would send."""
    try:
        from qwen_ls.completion_service import Debounce
    except ImportError:  # pragma: no cover - the server side is optional here
        return _FixedDebounce(120 if ms < 0 else ms)
    return Debounce(ms)


def count_server_generations(log_text: str) -> tuple[int, int]:
    """(requests the server accepted, generations it started), from llama_cpp.server's own log.

    A generation that ran to its end prints llama.cpp's perf summary ("total time"); one cut short by the
    client going away prints "Disconnected from client". A request cancelled while it still waited for
    the model lock prints neither: it was accepted but never generated.
    """
    accepted = log_text.count('"POST /v1/completions HTTP/1.1"')
    finished = log_text.count("llama_perf_context_print:       total time")
    cut = log_text.count("Disconnected from client (via refresh/close)")
    return accepted, finished + cut


def run_load(args: argparse.Namespace) -> LoadReport:
    from qwen_ls.engine.remote import RemoteSettings, open_remote_engine
    from qwen_ls.engine.remote.local_server import LlamaCppServer, free_port

    server: LlamaCppServer | None = None
    url = args.url
    if not url:
        log_dir = Path(tempfile.mkdtemp(prefix="qwen-ls-load-"))
        # A shared llama_cpp.server must queue requests rather than cut one stream when another waits.
        extra = ["--interrupt_requests", "true" if args.server_interrupts else "false"]
        server = LlamaCppServer(
            Path(args.model),
            free_port(),
            log_dir / "server.log",
            n_ctx=args.n_ctx,
            threads=args.threads,
            extra=extra,
        )
        server.start()
        url = server.url
    engines = []
    try:
        settings = RemoteSettings(url=url, timeout_ms=args.timeout_ms, tokenizer_model=args.model)
        engines = [open_remote_engine(settings, kind=args.kind) for _ in range(args.editors)]
        log_start = len(server.log_text()) if server else 0
        t0 = time.monotonic()
        stop_at = t0 + args.duration
        editors = [Editor(i, engines[i], args, stop_at) for i in range(args.editors)]
        for e in editors:
            e.start()
        grace = args.duration + args.deadline_ms / 1000.0 + 10.0
        for e in editors:
            e.join(max(0.1, t0 + grace - time.monotonic()))
        elapsed = time.monotonic() - t0
        report = LoadReport(editors=args.editors, duration_s=elapsed, model=args.model, url=url)
        pause_latencies: list[float] = []
        for e in editors:
            report.keystrokes += e.keystrokes
            for r in list(e.requests):
                report.requests += 1
                if r.outcome == "pending":
                    r.outcome = "hung" if r.sent else "debounced"
                report.sent += r.sent
                report.answered += r.outcome == "answered"
                report.superseded += r.outcome in ("superseded", "debounced")
                report.debounced += r.outcome == "debounced"
                report.errors += r.outcome == "error"
                report.deadlines += r.outcome == "deadline"
                report.hung += r.outcome == "hung"
                if r.pause:
                    report.pauses += 1
                    if r.outcome == "answered" and r.latency is not None:
                        report.pauses_answered += 1
                        pause_latencies.append(r.latency * 1000.0)
        report.latencies_ms = [round(v, 1) for v in pause_latencies]
        report.pause_latency_p50_ms = percentile(pause_latencies, 0.5)
        report.pause_latency_p95_ms = percentile(pause_latencies, 0.95)
        if report.pauses:
            report.sent_per_pause = report.sent / report.pauses
        if server is not None:
            time.sleep(0.3)  # the access log line of the last request
            accepted, started = count_server_generations(server.log_text()[log_start:])
            report.server_requests_accepted = accepted
            report.server_generations_started = started
            if report.pauses:
                report.server_generations_per_pause = report.server_generations_started / report.pauses
        return report
    finally:
        for engine in engines:
            engine.close()
        if server is not None:
            server.stop()


def handle(args: argparse.Namespace) -> int:
    from qwen_ls.engine.remote.local_server import have_llama_server_extra

    if not args.url:
        if not args.model or not Path(args.model).is_file():
            print(f"model not found: {args.model}", file=sys.stderr)
            return 2
        if not have_llama_server_extra():
            print('needs llama-cpp-python\'s server: pip install "llama-cpp-python[server]"', file=sys.stderr)
            return 2
    report = run_load(args)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print("\n".join(report.lines()))
    return 1 if report.hung else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "load",
        help="simulated editors typing at once against one shared inference server",
        description="Start llama-cpp-python's OpenAI-compatible server on 127.0.0.1 (or use --url) and "
        "let N simulated editors type a function at once; report p50/p95 latency at pauses and the "
        "server's generations started per pause. Bounded in time; stops by itself.",
    )
    p.add_argument("--model", required=True, help="GGUF served by the server, also used as the tokenizer")
    p.add_argument("--editors", type=int, default=8, help="simulated editors (default 8)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of typing (default 20)")
    p.add_argument("--cps", type=float, default=12.0, help="typing speed, characters per second (default 12)")
    p.add_argument("--pause-ms", type=int, default=1000, help="pause at each line end (default 1000)")
    p.add_argument(
        "--debounce-ms",
        type=int,
        default=-1,
        help="wait after a keystroke before sending (-1: adaptive, as qwen-ls)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the typing rhythm (default 0)")
    p.add_argument("--max-tokens", type=int, default=16, help="tokens generated per request (default 16)")
    p.add_argument("--prompt-tokens", type=int, default=1024, help="prompt budget in tokens (default 1024)")
    p.add_argument("--deadline-ms", type=int, default=5000, help="per-request deadline (default 5000)")
    p.add_argument("--timeout-ms", type=int, default=5000, help="connect/first-byte timeout (default 5000)")
    p.add_argument("--n-ctx", type=int, default=2048, help="server context size (default 2048)")
    p.add_argument("--threads", type=int, default=2, help="server threads (default 2)")
    p.add_argument(
        "--server-interrupts",
        action="store_true",
        help="run llama_cpp.server with --interrupt_requests true (it cuts a stream when another waits)",
    )
    p.add_argument("--url", default="", help="use this running server instead of starting one")
    p.add_argument(
        "--kind", choices=("openai", "llama-server"), default="openai", help="wire format with --url"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=handle)
