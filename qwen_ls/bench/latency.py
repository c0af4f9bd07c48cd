"""`qwen-ls bench latency`: a simulated user types code back into a file while an editor-like client
drives `qwen-ls serve` over stdio; latency at pauses is compared with llama.cpp's own floor.

The client behaves as editors do: a didChange and an inline-completion request per keystroke, the
previous request cancelled with $/cancelRequest. Keystrokes are 50-120 ms apart inside words, with
pauses of 0.4-1.2 s at word and line ends (seeded). In a share of the pauses the user accepts what is
shown, asks again right away (the after-accept latency), then deletes it and types on.

The floor for a pause request is llama.cpp's own time, in this process with the same model and settings,
to evaluate the prompt tokens the server actually evaluated for it and to generate the tokens it
generated, at the same context depth.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qwen_ls.bench.tail import percentile, tail_report


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("latency", help="typing benchmark against `qwen-ls serve` over stdio")
    p.add_argument("--model", required=True, help="GGUF path (e.g. a synthetic 0.5b from `bench make-model`)")
    p.add_argument("--workspace", required=True, help="the workspace root")
    p.add_argument("--file", required=True, help="file to type into, relative to the workspace")
    p.add_argument(
        "--max-tokens",
        type=int,
        help="fix the generated length: completion.maxTokens and minTokens (default: the server's defaults)",
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--gpu-layers", type=int, default=0, help="engine.gpuLayers (-1: all layers on the GPU)")
    p.add_argument("--prompt-tokens", type=int, default=2048, help="completion.maxPromptTokens")
    p.add_argument("--context-tokens", type=int, default=1024, help="completion.contextTokens")
    p.add_argument("--chars", type=int, default=400, help="how many characters to type back (default 400)")
    p.add_argument("--accept-share", type=float, default=0.3, help="share of pauses where the user accepts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--deadline-ms", type=int, help="completion.deadlineMs (default: the server's default)")
    p.add_argument(
        "--floor-repeats", type=int, default=3, help="timings per request of the floor (median; 0: no floor)"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--dump", help="write every request's server metrics to this JSON file")
    p.add_argument(
        "--server-path",
        help="run the server from this source tree (PYTHONPATH), e.g. a baseline worktree to compare with",
    )
    p.set_defaults(func=run)


# -- the text to type ---------------------------------------------------------------------------------


def pick_regions(text: str, n_chars: int, rng: random.Random) -> list[tuple[int, int]]:
    """Bodies of functions (the lines after a `def`/`function`/`fn` line, indented deeper) to remove and
    type back, about `n_chars` characters in all, chosen at random among those in the second half of
    the file (so there is a long prefix, as in real editing)."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    header = re.compile(r"^(\s*)(async\s+def|def|function|func|fn|public|private|static)\b.*[:{]\s*$")
    bodies: list[tuple[int, int]] = []
    for i, line in enumerate(lines):
        m = header.match(line)
        if not m:
            continue
        indent = len(m.group(1))
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
            j += 1
        while j > i + 1 and not lines[j - 1].strip():
            j -= 1
        if j - i >= 3:
            # keep the first body line (a docstring or the first statement) so the cursor has context
            bodies.append((starts[i + 2], starts[j]))
    bodies = [b for b in bodies if b[0] > len(text) // 3 and b[1] - b[0] >= 40]
    rng.shuffle(bodies)
    chosen: list[tuple[int, int]] = []
    total = 0
    for start, end in bodies:
        if total >= n_chars:
            break
        if any(not (end <= c[0] or start >= c[1]) for c in chosen):
            continue
        # type back whole lines, up to what is left of the budget (at least one line)
        cut = start
        while cut < end and (cut == start or cut - start < n_chars - total):
            nl = text.find("\n", cut, end)
            cut = end if nl == -1 else nl + 1
        chosen.append((start, cut))
        total += cut - start
    if not chosen:
        raise SystemExit("qwen-ls: error: no function bodies to type back in this file (pick another --file)")
    return sorted(chosen)


# -- the simulated editor -----------------------------------------------------------------------------


@dataclass
class Doc:
    uri: str
    text: str
    version: int = 1

    def position(self, offset: int) -> dict[str, int]:
        before = self.text[:offset]
        line = before.count("\n")
        col = len(before) - (before.rfind("\n") + 1)
        # UTF-16 columns, as the server negotiates by default
        col16 = len(before[before.rfind("\n") + 1 :].encode("utf-16-le")) // 2
        del col
        return {"line": line, "character": col16}

    def offset(self, position: dict[str, int]) -> int:
        """The offset of an LSP position (UTF-16 columns), clamped to its line."""
        lines = self.text.split("\n")
        line = min(max(0, position["line"]), len(lines) - 1)
        start = sum(len(x) + 1 for x in lines[:line])
        units = position["character"]
        col = 0
        for ch in lines[line]:
            units -= len(ch.encode("utf-16-le")) // 2
            if units < 0:
                break
            col += 1
        return start + col


@dataclass
class Run:
    pause_latency: list[float] = field(default_factory=list)
    pause_metrics: list[dict[str, Any]] = field(default_factory=list)
    #: whether each answered pause got a suggestion
    pause_text: list[bool] = field(default_factory=list)
    after_accept: list[float] = field(default_factory=list)
    pauses: int = 0
    accepts: int = 0
    typed: int = 0
    unanswered: int = 0
    late: int = 0


class Client:
    """A minimal LSP client over the server's stdio, with our own request ids (for $/cancelRequest)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._next = 0
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self._reader = asyncio.ensure_future(self._read())
        self._stderr = asyncio.ensure_future(self._drain_stderr())

    async def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        while await self.proc.stderr.read(65536):
            pass

    async def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            headers = await out.readuntil(b"\r\n\r\n")
            length = 0
            for h in headers.decode("ascii").split("\r\n"):
                if h.lower().startswith("content-length:"):
                    length = int(h.split(":", 1)[1])
            msg = json.loads(await out.readexactly(length))
            if "id" in msg and "method" in msg:  # a request from the server: answer it
                self._send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
            elif "id" in msg:
                fut = self._waiting.pop(msg["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
            else:
                self.notifications.append(msg)

    def _send(self, msg: dict[str, Any]) -> None:
        body = json.dumps(msg).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def request(self, method: str, params: Any) -> tuple[int, asyncio.Future[Any]]:
        self._next += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = fut
        self._send({"jsonrpc": "2.0", "id": self._next, "method": method, "params": params})
        return self._next, fut

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def cancel(self, msg_id: int) -> None:
        self.notify("$/cancelRequest", {"id": msg_id})

    async def call(self, method: str, params: Any, timeout: float = 120) -> Any:
        _, fut = self.request(method, params)
        msg = await asyncio.wait_for(fut, timeout)
        if "error" in msg:
            raise RuntimeError(f"{method}: {msg['error']}")
        return msg.get("result")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


async def _start_server(args: argparse.Namespace) -> tuple[asyncio.subprocess.Process, Client]:
    env = {**os.environ, "QWEN_LS_LOG_LEVEL": "WARNING"}
    if args.server_path:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(args.server_path).resolve()), env.get("PYTHONPATH", "")]
        )
    pipe = asyncio.subprocess.PIPE
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "qwen_ls",
        "serve",
        "--model",
        args.model,
        stdin=pipe,
        stdout=pipe,
        stderr=pipe,
        env=env,
    )
    return proc, Client(proc)


async def _initialize(client: Client, args: argparse.Namespace, workspace: Path) -> None:
    """initialize/initialized with the benchmark's options, then wait for the model to load."""
    completion: dict[str, Any] = {} if args.deadline_ms is None else {"deadlineMs": args.deadline_ms}
    if args.max_tokens is not None:
        completion.update(maxTokens=args.max_tokens, minTokens=args.max_tokens)  # a fixed length
    options = {
        "completion": {
            **completion,
            "maxPromptTokens": args.prompt_tokens,
            "contextTokens": args.context_tokens,
            "prefixTokens": args.prompt_tokens,
            "mode": "multi",
        },
        "engine": {"threads": args.threads, "nCtx": _n_ctx(args), "gpuLayers": args.gpu_layers},
    }
    await client.call(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": workspace.as_uri(),
            "workspaceFolders": [{"uri": workspace.as_uri(), "name": workspace.name}],
            "capabilities": {"textDocument": {"inlineCompletion": {}}, "workspace": {"configuration": False}},
            "initializationOptions": options,
        },
    )
    client.notify("initialized", {})
    t_wait = time.monotonic() + 300
    while not any(n.get("method") == "qwen/status" and n["params"]["state"] in ("ready", "error")
                  for n in client.notifications):  # fmt: skip
        if time.monotonic() > t_wait:
            raise SystemExit("qwen-ls: error: the server did not load the model in 300 s")
        await asyncio.sleep(0.05)
    status = [n for n in client.notifications if n.get("method") == "qwen/status"][-1]["params"]
    if status["state"] != "ready":
        raise SystemExit(f"qwen-ls: error: {status.get('message')}")


class _Typist:
    """The simulated user: types the removed regions back, pausing, accepting and deleting."""

    def __init__(
        self, client: Client, doc: Doc, args: argparse.Namespace, rng: random.Random, original: str
    ) -> None:
        self.client = client
        self.doc = doc
        self.args = args
        self.rng = rng
        self.original = original
        self.run = Run()
        self.pending: int | None = None
        self.arrivals = 0

    def edit(self, offset: int, delete: int, insert: str) -> None:
        doc = self.doc
        start = doc.position(offset)
        end = doc.position(offset + delete)
        doc.text = doc.text[:offset] + insert + doc.text[offset + delete :]
        doc.version += 1
        self.client.notify("textDocument/didChange", {
            "textDocument": {"uri": doc.uri, "version": doc.version},
            "contentChanges": [{"range": {"start": start, "end": end}, "text": insert}],
        })  # fmt: skip

    def ask(self, offset: int) -> tuple[int, asyncio.Future[Any]]:
        return self.client.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": self.doc.uri}, "position": self.doc.position(offset),
            "context": {"triggerKind": 2},
        })  # fmt: skip

    async def region(self, a: int, b: int) -> None:
        client, doc, run, rng, original = self.client, self.doc, self.run, self.rng, self.original
        cursor = a  # earlier regions are typed back already, later ones are still removed
        # The user moves the cursor here and looks for a moment before typing: the editor asks once
        # (explicitly) at the new place. Its cost (a new prompt window, maybe new context) is the cost of
        # arriving somewhere, counted apart from typing in `kv_reuse_typing`.
        if self.pending is not None:
            client.cancel(self.pending)
            self.pending = None
        _, fut0 = client.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": doc.uri}, "position": doc.position(cursor), "context": {"triggerKind": 1},
        })  # fmt: skip
        await asyncio.wait_for(fut0, 120)
        self.arrivals += 1
        for k, ch in enumerate(original[a:b]):
            if self.pending is not None:
                client.cancel(self.pending)
            self.edit(cursor, 0, ch)
            cursor += 1
            run.typed += 1
            t_key = time.perf_counter()
            self.pending, fut = self.ask(cursor)
            nxt = original[a + k + 1] if a + k + 1 < b else "\n"
            # pause at the end of a word and at the end of a line (not inside indentation or punctuation runs)
            word_char = ch.isalnum() or ch == "_"
            boundary = (word_char and not (nxt.isalnum() or nxt == "_")) or (ch == "\n" and nxt.strip() != "")
            if not boundary:
                await asyncio.sleep(rng.uniform(0.05, 0.12))
                continue
            await self.pause(cursor, t_key, fut)

    async def pause(self, cursor: int, t_key: float, fut: asyncio.Future[Any]) -> None:
        client, run, rng = self.client, self.run, self.rng
        run.pauses += 1
        pause = rng.uniform(0.4, 1.2)
        # the user waits for the answer at a pause (up to 15 s), so that every pause has a latency;
        # answers later than the drawn pause would not have been seen: counted as late
        try:
            msg = await asyncio.wait_for(asyncio.shield(fut), 15)
        except asyncio.TimeoutError:
            run.unanswered += 1
            return
        latency = time.perf_counter() - t_key
        self.pending = None
        if latency > pause:
            run.late += 1
        stats = await client.call("workspace/executeCommand", {"command": "qwen.stats", "arguments": []})
        run.pause_latency.append(latency)
        run.pause_metrics.append(stats.get("last") or {})
        items = ((msg.get("result") or {}).get("items")) or []
        run.pause_text.append(bool(items))
        rest = max(0.0, pause - latency)
        if items and rng.random() < self.args.accept_share:
            shown = items[0]["insertText"]
            # as an editor accepts: the item's range (the cursor up to the text it replaces, such as a
            # closing bracket the completion ends with) becomes the inserted text
            end = self.doc.offset(items[0]["range"]["end"]) if items[0].get("range") else cursor
            replaced = self.doc.text[cursor : max(cursor, end)]
            run.accepts += 1
            await asyncio.sleep(rng.uniform(0.3, 0.8))  # reading the suggestion before accepting it
            self.edit(cursor, len(replaced), shown)
            t_acc = time.perf_counter()
            _, fut2 = self.ask(cursor + len(shown))
            await asyncio.wait_for(fut2, 30)
            run.after_accept.append(time.perf_counter() - t_acc)
            await asyncio.sleep(max(0.0, rest - (time.perf_counter() - t_acc)) / 2)
            self.edit(cursor, len(shown), replaced)  # not what the user wanted: undo it and type on
            await asyncio.sleep(0.1)
        else:
            await asyncio.sleep(max(0.0, rest))


async def drive(
    args: argparse.Namespace, workspace: Path, rel: str, original: str, regions: list[tuple[int, int]]
) -> tuple[Run, dict[str, Any], float]:
    rng = random.Random(args.seed)
    # the document as the user has it: the regions removed
    text = original
    for a, b in reversed(regions):
        text = text[:a] + text[b:]
    path = workspace / rel
    path.write_text(text)
    proc, client = await _start_server(args)
    await _initialize(client, args, workspace)
    doc = Doc(path.as_uri(), text)
    client.notify("textDocument/didOpen", {"textDocument": {"uri": doc.uri, "languageId": _language(rel),
                                                            "version": 1, "text": text}})  # fmt: skip
    await asyncio.sleep(2.0)  # let the index build and the pre-warm run, as an editor's first seconds do
    typist = _Typist(client, doc, args, rng, original)
    cpu0 = _cpu_seconds(proc.pid)
    stats0 = await client.call("workspace/executeCommand", {"command": "qwen.stats", "arguments": []})
    for a, b in regions:
        await typist.region(a, b)
    cpu = _cpu_seconds(proc.pid) - cpu0
    stats = await client.call(
        "workspace/executeCommand", {"command": "qwen.stats", "arguments": [{"recent": 2000}]}
    )
    await client.call("shutdown", None)
    client.notify("exit", None)
    try:
        await asyncio.wait_for(proc.wait(), 20)
    except asyncio.TimeoutError:
        proc.kill()
    client._reader.cancel()
    stats["before"] = stats0
    stats["arrivals"] = typist.arrivals
    return typist.run, stats, cpu


def _n_ctx(args: argparse.Namespace) -> int:
    return max(4096, args.prompt_tokens + (args.max_tokens or 64) + 64)


def _language(rel: str) -> str:
    from qwen_ls.syntax import language_for_path

    return language_for_path(rel) or "plaintext"


# -- the floor ----------------------------------------------------------------------------------------


def measure_floor(args: argparse.Namespace, requests: list[dict[str, Any]], repeats: int = 3) -> list[float]:
    """llama.cpp's own time for each request's evaluated prompt tokens and generated tokens, at the
    request's context depth, in this process with the server's model and settings (median of `repeats`).

    A shared base of the cache is evaluated once (untimed); each request then only tops it up to its own
    depth before the timed part, which is evaluated again for each repetition.
    """
    from qwen_ls.engine.base import CancelToken
    from qwen_ls.engine.llama import EngineSettings, LlamaEngine

    settings = EngineSettings(n_ctx=_n_ctx(args), threads=args.threads, gpu_layers=args.gpu_layers)
    engine = LlamaEngine(args.model, settings)
    lib, mem = engine._lib, engine._mem
    rng = random.Random(1)
    longest = max(int(m["prompt_tokens"]) + int(m["generated"]) for m in requests) + 8
    tokens = [rng.randrange(200, 100_000) for _ in range(longest)]
    kept_all = [max(0, int(m["prompt_tokens"]) - max(1, int(m["evaluated"]))) for m in requests]
    base = min(kept_all)
    never = CancelToken()

    def reset(to: int) -> None:
        lib.llama_memory_seq_rm(mem, 0, to, -1)
        del engine._cached[to:]

    # warm up (the first pass pages the weights in) and lay down the shared base
    engine._decode_chunks(tokens[: min(64, longest)], 0, never, None, True)
    reset(0)
    engine._decode_chunks(tokens[:base], 0, never, None, False)
    floors = []
    for m, kept in zip(requests, kept_all, strict=True):
        evaluated = max(1, int(m["evaluated"]))
        generated = int(m["generated"])
        reset(base)
        if kept > base:
            engine._decode_chunks(tokens[base:kept], base, never, None, False)
        times = []
        for _ in range(repeats):
            reset(kept)
            t0 = time.perf_counter()
            engine._decode_chunks(tokens[kept : kept + evaluated], kept, never, None, True)
            pos = kept + evaluated
            for _ in range(generated):
                tok = engine._sample(0.0, None)
                engine._decode_chunks([tok], pos, never, None, True)
                pos += 1
            times.append(time.perf_counter() - t0)
        floors.append(statistics.median(times))
    engine.close()
    return floors


def _typing_reuse(stats: dict[str, Any]) -> float | None:
    """KV reuse over the typing requests only: without the explicit request made on arriving at each
    region (a new place costs a new prompt window, and maybe new context, whatever the cache does)."""
    typing = [m for m in stats.get("recent") or [] if not m.get("invoked")]
    evaluated = sum(m["evaluated"] for m in typing)
    reused = sum(m["reused"] + m["shifted"] for m in typing)
    return round(reused / (reused + evaluated), 4) if reused + evaluated else None


def run(args: argparse.Namespace) -> int:
    src = Path(args.workspace).resolve()
    rel = args.file
    original = (src / rel).read_text()
    rng = random.Random(args.seed)
    regions = pick_regions(original, args.chars, rng)
    tmp = Path(tempfile.mkdtemp(prefix="qwen-ls-latency-"))
    workspace = tmp / src.name
    shutil.copytree(
        src,
        workspace,
        ignore=shutil.ignore_patterns(".git", ".venv", "node_modules", "__pycache__", "*.gguf"),
    )
    try:
        t0 = time.perf_counter()
        result, stats, cpu = asyncio.run(drive(args, workspace, rel, original, regions))
        wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # pause requests that ran the model (a typed-ahead answer has no floor to compare with)
    measured = [
        (lat, m)
        for lat, m in zip(result.pause_latency, result.pause_metrics, strict=True)
        if m.get("generation_started")
    ]
    pauses = [m for _, m in measured]
    floors = measure_floor(args, pauses, args.floor_repeats) if pauses and args.floor_repeats > 0 else []
    ratios = [lat / fl for (lat, _), fl in zip(measured, floors, strict=False) if fl > 0]
    totals = stats.get("promptTokens", {})
    before = stats["before"].get("promptTokens", {})
    evaluated = totals.get("evaluated", 0) - before.get("evaluated", 0)
    reused = (totals.get("reused", 0) + totals.get("shifted", 0)) - (
        before.get("reused", 0) + before.get("shifted", 0)
    )
    gens = stats.get("generationsStarted", 0) - stats["before"].get("generationsStarted", 0)
    report = {
        "model": args.model,
        "file": rel,
        "threads": args.threads,
        "max_tokens": args.max_tokens,
        "typed_chars": result.typed,
        "pauses": result.pauses,
        "answered_pauses": len(result.pause_latency),
        "unanswered_pauses": result.unanswered,
        "answered_after_the_pause": result.late,
        "pause_latency_p50_ms": round(percentile(result.pause_latency, 50) * 1000, 1),
        "pause_latency_p95_ms": round(percentile(result.pause_latency, 95) * 1000, 1),
        "floor_p50_ms": round(percentile(floors, 50) * 1000, 1),
        "floor_p95_ms": round(percentile(floors, 95) * 1000, 1),
        "latency_to_floor_p50": round(statistics.median(ratios), 3) if ratios else None,
        "prompt_tokens_p50": percentile([float(m["prompt_tokens"]) for m in pauses], 50) if pauses else None,
        "context_tokens_p50": percentile([float(m["context_tokens"]) for m in pauses], 50)
        if pauses
        else None,
        "evaluated_p50": percentile([float(m["evaluated"]) for m in pauses], 50) if pauses else None,
        "generated_p50": percentile([float(m["generated"]) for m in pauses], 50) if pauses else None,
        "kv_reuse": round(reused / (reused + evaluated), 4) if reused + evaluated else None,
        "kv_reuse_typing": _typing_reuse(stats),
        "generations_per_pause": round(gens / max(1, result.pauses), 3),
        "accepts": result.accepts,
        "after_accept_p50_ms": round(percentile(result.after_accept, 50) * 1000, 1)
        if result.after_accept
        else None,
        "cpu_s_per_char": round(cpu / max(1, result.typed), 4),
        "wall_s": round(wall, 1),
        **tail_report(
            result.pause_latency, result.pause_metrics, result.pause_text, stats, result.unanswered
        ),
    }
    if args.dump:
        Path(args.dump).write_text(json.dumps(stats.get("recent", []), indent=1))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for k, v in report.items():
            print(f"{k:24} {v}")
    return 0
