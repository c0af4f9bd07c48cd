"""`qwen-ls bench soak`: one `qwen-ls serve` process driven for minutes like a busy editor, watched for leaks.

Eight documents; typing at human speed (80-250 ms a key, a pause at each line end) and in bursts (5-15
ms a key, as a paste or key repeat), each keystroke a `didChange` plus an inline-completion request
with the previous request cancelled, as editors do; documents closed and opened again; a settings
change now and then; a switch to another model file half-way; a repair (codeAction + resolve) now and
then. Reported: requests sent and answered (every request must be answered), errors by code,
completion latency at pauses, and the server's RSS, open file descriptors and threads after warm-up
and at the end, and the engine lane's state at the end (`qwen.stats`).

Targets (issue 15): every request answered, RSS growth after warm-up under 10%, no growth in
descriptors or threads, the lane idle at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qwen_ls.bench.soak_client import RpcClient, proc_stats

SOURCES = {
    "app.py": "import os\n\n\ndef main(argv):\n    name = argv[0] if argv else 'w'\n    return name\n",
    "util.py": "def clamp(x, lo, hi):\n    return max(lo, min(hi, x))\n\n\nclass Box:\n    pass\n",
    "index.js": "function add(a, b) {\n  return a + b;\n}\n\nmodule.exports = { add };\n",
    "main.go": 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hi")\n}\n',
    "lib.rs": "pub fn square(x: i64) -> i64 {\n    x * x\n}\n",
    "notes.md": "# Notes\n\n- first\n- second\n",
    "Main.java": "class Main {\n    public static void main(String[] a) {\n    }\n}\n",
    "emoji.txt": "caf\u00e9 \U0001f600 line\r\nsecond \u2028 line\r\n",
}
LANGUAGES = {".py": "python", ".js": "javascript", ".go": "go", ".rs": "rust", ".md": "markdown",
             ".java": "java", ".txt": "plaintext"}  # fmt: skip
LINES = ["x = compute(value, 3)", "if result is None:", "return total + count", "for item in items:",
         "print('done')", "let y = a + b;", "total += 1"]  # fmt: skip


@dataclass
class Sample:
    rss_kib: int
    fds: int
    threads: int


@dataclass
class SoakReport:
    minutes: float
    documents: int
    requests_sent: int = 0
    requests_answered: int = 0
    unanswered: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    keystrokes: int = 0
    completions_shown: int = 0
    pause_latency_ms_p50: float | None = None
    pause_latency_ms_p95: float | None = None
    opens: int = 0
    closes: int = 0
    settings_changes: int = 0
    model_switches: int = 0
    repairs: int = 0
    after_warmup: Sample | None = None
    end: Sample | None = None
    rss_growth_pct: float | None = None
    #: (minutes since the start, what happened) for the model switches
    events: list[tuple[float, str]] = field(default_factory=list)
    #: (minutes since the start, RSS in KiB), about 30 samples over the run
    rss_timeline_kib: list[tuple[float, int]] = field(default_factory=list)
    #: seconds from the last answer until the lane was idle (its idle work done), at most 60
    lane_idle_after_s: float | None = None
    lane_busy_at_end: bool | None = None
    lane_queue_at_end: int | None = None
    server_exit_code: int | None = None
    targets: dict[str, bool] = field(default_factory=dict)


class Soak:
    def __init__(self, client: RpcClient, root: Path, models: list[Path], rng: random.Random) -> None:
        self.client = client
        self.root = root
        self.models = models
        self.rng = rng
        self.docs: dict[str, list[str]] = {}  # uri -> lines (the model of the buffer), open ones only
        self.versions: dict[str, int] = {}
        self.latencies: list[float] = []
        self.report = SoakReport(minutes=0, documents=len(SOURCES))
        self.settings: dict[str, Any] = {}

    def uri(self, name: str) -> str:
        return (self.root / name).as_uri()

    def open(self, name: str) -> str:
        uri = self.uri(name)
        text = (self.root / name).read_text(encoding="utf-8")
        self.versions[uri] = self.versions.get(uri, 0) + 1
        self.docs[uri] = text.split("\n")
        item = {
            "uri": uri,
            "languageId": LANGUAGES[Path(name).suffix],
            "version": self.versions[uri],
            "text": text,
        }
        self.client.notify("textDocument/didOpen", {"textDocument": item})
        self.report.opens += 1
        return uri

    def close(self, uri: str) -> None:
        self.client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        self.docs.pop(uri, None)
        self.report.closes += 1

    def type_char(self, uri: str, line: int, ch: str) -> dict[str, int]:
        """Insert one character at the end of `line` (a new line for "\\n"); returns the cursor."""
        lines = self.docs[uri]
        col = len(lines[line].encode("utf-16-le")) // 2
        pos = {"line": line, "character": col}
        self.versions[uri] += 1
        change = {"range": {"start": pos, "end": pos}, "text": ch}
        self.client.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": self.versions[uri]}, "contentChanges": [change]},
        )
        if ch == "\n":
            lines.insert(line + 1, "")
            self.report.keystrokes += 1
            return {"line": line + 1, "character": 0}
        lines[line] += ch
        self.report.keystrokes += 1
        return {"line": line, "character": col + len(ch.encode("utf-16-le")) // 2}

    def complete(self, uri: str, cursor: dict[str, int], invoked: bool) -> int:
        params = {
            "textDocument": {"uri": uri},
            "position": cursor,
            "context": {"triggerKind": 1 if invoked else 2},
        }
        return self.client.request("textDocument/inlineCompletion", params)

    async def type_line(self, uri: str, burst: bool) -> None:
        lines = self.docs[uri]
        line = self.rng.randrange(len(lines))
        self.type_char(uri, line, "\n")  # a fresh line below a random one
        line += 1
        pending: int | None = None
        for ch in self.rng.choice(LINES):
            cursor = self.type_char(uri, line, ch)
            if pending is not None:
                self.client.cancel(pending)
            pending = self.complete(uri, cursor, invoked=False)
            delay = self.rng.uniform(0.005, 0.015) if burst else self.rng.uniform(0.08, 0.25)
            await asyncio.sleep(delay)
        if pending is not None:  # the pause at the line end: wait for the answer
            t0 = time.monotonic()
            answer = await self.client.wait(pending, 60)
            if answer is not None and "result" in answer:
                self.latencies.append((time.monotonic() - t0) * 1000)
                if (answer["result"] or {}).get("items"):
                    self.report.completions_shown += 1

    async def change_settings(self) -> None:
        self.settings = {
            "model": self.settings.get("model", str(self.models[0])),
            "completion": {
                "maxTokens": self.rng.choice([8, 12, 16]),
                "debounceMs": self.rng.choice([0, 30, 75]),
            },
        }
        self.client.notify("workspace/didChangeConfiguration", {"settings": {"qwen": self.settings}})
        self.report.settings_changes += 1

    async def switch_model(self) -> None:
        current = self.settings.get("model", str(self.models[0]))
        other = next(str(m) for m in self.models if str(m) != current)
        self.settings = {**self.settings, "model": other}
        self.client.notify("workspace/didChangeConfiguration", {"settings": {"qwen": self.settings}})
        self.report.model_switches += 1
        await self.client.wait_notification(
            lambda m: m.get("method") == "qwen/status" and m["params"].get("state") == "ready", 120
        )

    async def repair(self, uri: str) -> None:
        line = self.rng.randrange(len(self.docs[uri]))
        rng = {"start": {"line": line, "character": 0}, "end": {"line": line, "character": 1}}
        diag = {"range": rng, "message": "undefined name 'valu'", "severity": 1, "source": "soak"}
        params = {"textDocument": {"uri": uri}, "range": rng, "context": {"diagnostics": [diag]}}
        answer = await self.client.call("textDocument/codeAction", params, 30)
        actions = (answer or {}).get("result") or []
        if actions:
            await self.client.call("codeAction/resolve", actions[0], 120)
        self.report.repairs += 1

    async def step(self) -> None:
        """One episode of editor activity."""
        r = self.rng.random()
        names = list(SOURCES)
        if len(self.docs) < 3 or r < 0.05:
            closed = [n for n in names if self.uri(n) not in self.docs]
            if closed:
                self.open(self.rng.choice(closed))
                return
        if r < 0.10 and len(self.docs) >= 3:
            self.close(self.rng.choice(list(self.docs)))
            return
        uri = self.rng.choice(list(self.docs))
        if r < 0.13:
            await self.change_settings()
        elif r < 0.15:
            await self.repair(uri)
        else:
            await self.type_line(uri, burst=r > 0.8)


async def _sample(client: RpcClient) -> Sample:
    rss, fds, threads = proc_stats(client.pid)
    return Sample(rss_kib=rss, fds=fds, threads=threads)


async def run_soak(args: argparse.Namespace, root: Path, models: list[Path]) -> SoakReport:
    cmd = [sys.executable, "-m", "qwen_ls", "serve", "--model", str(models[0])]
    client = await RpcClient.start(cmd)
    rng = random.Random(args.seed)
    soak = Soak(client, root, models, rng)
    soak.report.minutes = args.minutes
    caps = {
        "textDocument": {"inlineCompletion": {}, "codeAction": {"resolveSupport": {"properties": ["edit"]}}},
        "workspace": {"configuration": False},
    }
    options = {"model": str(models[0]), "completion": {"maxTokens": 12, "debounceMs": 30}}
    soak.settings = dict(options)
    await client.call("initialize", {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": caps,
                                     "initializationOptions": options}, 120)  # fmt: skip
    client.notify("initialized", {})
    await client.wait_notification(
        lambda m: m.get("method") == "qwen/status" and m["params"].get("state") == "ready", 120
    )
    loop = asyncio.get_running_loop()
    start = loop.time()
    end = start + args.minutes * 60
    # Warm-up: the first fifth of the run (at most 3 minutes), with the first model switch in it, so
    # that having loaded both models once is not counted as growth; switching back at half time is.
    warmup = min(args.minutes * 60 * 0.2, 180)
    switches = [start + warmup / 2, start + args.minutes * 30]
    next_sample = start
    while loop.time() < end:
        await soak.step()
        if loop.time() >= next_sample:  # the trend, to tell a leak from a one-off allocation
            rss = (await _sample(client)).rss_kib
            soak.report.rss_timeline_kib.append((round((loop.time() - start) / 60, 2), rss))
            next_sample += max(10.0, args.minutes * 60 / 30)
        if switches and loop.time() >= switches[0]:
            switches.pop(0)
            await soak.switch_model()
            soak.report.events.append((round((loop.time() - start) / 60, 2), "model switched"))
        if soak.report.after_warmup is None and loop.time() >= start + warmup:
            soak.report.after_warmup = await _sample(client)
    if soak.report.after_warmup is None:
        soak.report.after_warmup = await _sample(client)
    await client.drain(60)  # every request answered (or not) by now
    # idle work after the last answer (prefetch, context refresh) runs to its end: wait for it
    waited = loop.time()
    result: dict[str, Any] = {}
    while loop.time() - waited < 60:
        stats = await client.call("workspace/executeCommand", {"command": "qwen.stats", "arguments": []}, 30)
        result = (stats or {}).get("result") or {}
        if result.get("busy") is False:
            break
        await asyncio.sleep(1)
    soak.report.lane_idle_after_s = round(loop.time() - waited, 1)
    soak.report.end = await _sample(client)
    soak.report.lane_busy_at_end = result.get("busy")
    # `busy` is "a job running or queued": not busy means an empty queue
    soak.report.lane_queue_at_end = result.get("queued", 0 if result.get("busy") is False else None)
    _finish(soak, client)
    soak.report.server_exit_code = await client.close()
    return soak.report


def _finish(soak: Soak, client: RpcClient) -> None:
    r = soak.report
    r.requests_sent = client.sent
    r.requests_answered = client.answered
    r.unanswered = client.sent - client.answered
    r.errors = dict(client.errors)
    if soak.latencies:
        lat = sorted(soak.latencies)
        r.pause_latency_ms_p50 = round(lat[len(lat) // 2], 1)
        r.pause_latency_ms_p95 = round(lat[min(len(lat) - 1, int(len(lat) * 0.95))], 1)
    a, b = r.after_warmup, r.end
    if a is not None and b is not None and a.rss_kib:
        r.rss_growth_pct = round((b.rss_kib - a.rss_kib) * 100 / a.rss_kib, 2)
        r.targets = {
            "every_request_answered": r.unanswered == 0,
            "rss_growth_under_10pct": r.rss_growth_pct < 10,
            "no_fd_growth": b.fds <= a.fds,
            "no_thread_growth": b.threads <= a.threads,
            "lane_idle_at_end": r.lane_busy_at_end is False and not r.lane_queue_at_end,
        }


def _prepare(args: argparse.Namespace, tmp: Path) -> tuple[Path, list[Path]]:
    root = tmp / "workspace"
    root.mkdir()
    (root / ".git").mkdir()
    for name, text in SOURCES.items():
        (root / name).write_text(text, encoding="utf-8", newline="")
    if args.model:
        first = Path(args.model)
    else:
        from qwen_ls.bench.make_model import write_model

        first = tmp / "soak-a.gguf"
        write_model(first, "tiny")
    second = tmp / f"soak-b{first.suffix}"
    shutil.copyfile(first, second)  # another file: the server loads it as a different model
    return root, [first, second]


def handle(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="qwen-ls-soak-") as tmp:
        root, models = _prepare(args, Path(tmp))
        report = asyncio.run(run_soak(args, root, models))
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        for key, value in asdict(report).items():
            print(f"{key:>24}: {value}")
    return 0 if report.targets and all(report.targets.values()) else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "soak",
        help="drive one qwen-ls server for minutes like a busy editor and watch it for leaks",
        description="Eight documents, human and burst typing, opens and closes, settings changes, a model "
        "switch and repairs against one `qwen-ls serve`; reports requests sent/answered, RSS, file "
        "descriptors and threads after warm-up and at the end, and the engine lane at the end.",
    )
    p.add_argument("--minutes", type=float, default=5.0, help="how long to drive the server (default 5)")
    p.add_argument("--model", default="", help="GGUF to serve (default: a tiny synthetic model)")
    p.add_argument("--seed", type=int, default=0, help="seed of the editor's behaviour (default 0)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=handle)
