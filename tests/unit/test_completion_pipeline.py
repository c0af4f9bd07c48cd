"""The completion pipeline's typed outcome, its generation run, and one pipeline for CLI and server.

A scripted engine streams a fixed answer token by token (FakeTokenizer), so no model is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from qwen_ls.completion import (
    CompletionPipeline,
    CompletionSettings,
    GenerationRun,
    Outcome,
    OutcomeKind,
    Snapshot,
)
from qwen_ls.config import Settings, load_settings
from qwen_ls.engine.base import (
    CancelToken,
    Capabilities,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
    TextCallback,
)
from qwen_ls.postprocess import CompletionContext
from tests.helpers import FakeTokenizer


class ScriptedEngine:
    """Streams `answer` one FakeTokenizer token at a time; honours max_tokens, the callback, the deadline."""

    def __init__(
        self, answer: str, *, live_progress: bool = False, deadline_after: int | None = None
    ) -> None:
        self.answer = answer
        self._tokenizer = FakeTokenizer()
        self.capabilities = Capabilities(live_progress=live_progress)
        self.live: GenerationResult | None = None
        #: tokens after which the request's deadline counts as passed (no clock in these tests)
        self.deadline_after = deadline_after
        self.requests: list[GenerationRequest] = []

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(path="scripted.gguf", name="scripted")

    @property
    def tokenizer(self) -> FakeTokenizer:
        return self._tokenizer

    @property
    def n_ctx(self) -> int:
        return 4096

    def generate(
        self, request: GenerationRequest, cancel: CancelToken, on_text: TextCallback | None = None
    ) -> GenerationResult:
        self.requests.append(request)
        result = GenerationResult(n_prompt=len(request.prompt), n_evaluated=len(request.prompt))
        self.live = result
        pieces: Sequence[int] = self._tokenizer.tokenize(self.answer)
        text = ""
        for tid in pieces:
            if cancel.cancelled:
                result.stop_reason = "cancelled"
                break
            if result.n_generated >= request.max_tokens:
                result.stop_reason = "length"
                break
            if request.deadline is not None and result.n_generated == self.deadline_after:
                result.stop_reason = "deadline"
                break
            text += self._tokenizer.detokenize([tid])
            result.n_generated += 1
            result.tokens.append(tid)
            result.text = text
            if on_text is not None and not on_text(text):
                result.stop_reason = "callback"
                break
        else:
            result.stop_reason = "stop"
        self.live = None
        return result

    def close(self) -> None:
        pass


def snap(document: str, language: str = "python", uri: str = "file:///w/m.py") -> Snapshot:
    prefix, suffix = document.split("█")
    return Snapshot(uri=uri, text=prefix + suffix, offset=len(prefix), language=language, invoked=True)


def test_a_shown_completion_is_typed() -> None:
    engine = ScriptedEngine("return a + b\n\ndef other():\n    pass\n")
    out = CompletionPipeline(engine).run(snap("def add(a, b):\n    █\n"), CancelToken())
    assert out.kind is OutcomeKind.SHOWN and out.reason == "" and out.label == "shown"
    assert out.text == "return a + b"
    assert out.generation is not None and out.generation.stop_reason == "callback"
    assert not out.deadline_hit and out.continuation is None


def test_an_empty_completion_says_why() -> None:
    engine = ScriptedEngine("    \n")
    out = CompletionPipeline(engine).run(snap("def add(a, b):\n    █\n"), CancelToken())
    assert out.kind is OutcomeKind.EMPTY and out.reason == "whitespace"
    assert out.label == "empty:whitespace"
    assert Outcome.empty("too-large").label == "empty:too-large"
    assert Outcome(kind=OutcomeKind.SUPERSEDED).label == "superseded"


def test_a_cancelled_request_is_cancelled() -> None:
    cancel = CancelToken()
    cancel.cancel()
    out = CompletionPipeline(ScriptedEngine("x = 1\n")).run(snap("█\n"), cancel)
    assert out.kind is OutcomeKind.CANCELLED and out.label == "cancelled"


def test_min_tokens_keeps_generating_past_a_complete_answer() -> None:
    answer, doc = "1, 2) + g(3)\ny = 2\nz = 3\n", snap("x = f(█)\n")
    short = CompletionPipeline(ScriptedEngine(answer), CompletionSettings(mode="single")).run(
        doc, CancelToken()
    )
    settings = CompletionSettings(mode="single", min_tokens=12)
    long = CompletionPipeline(ScriptedEngine(answer), settings).run(doc, CancelToken())
    assert short.generation is not None and long.generation is not None
    assert long.generation.n_generated >= 12 > short.generation.n_generated
    assert long.text == short.text == "1, 2)"  # post-processing still cuts the same answer


def test_deadline_keeps_the_complete_lines() -> None:
    engine = ScriptedEngine("a = 1\n    b = 2\n    c = 3\n    d = 4\n", deadline_after=10)
    settings = CompletionSettings(mode="multi")
    out = CompletionPipeline(engine, settings).run(
        snap("def f():\n    █"), CancelToken(), deadline=time.monotonic() + 60
    )
    assert out.deadline_hit
    assert out.generation is not None and out.generation.stop_reason == "deadline"
    assert out.raw == "a = 1\n    b = 2\n    c = 3\n    d"  # ten tokens by the deadline
    assert out.text == "a = 1\n    b = 2\n    c = 3"  # the complete lines


def test_the_time_for_generation_reaches_the_engine_with_the_prefill_hold() -> None:
    from qwen_ls.completion_service import run_with_hold

    engine = ScriptedEngine("x = 1\n")
    pipeline = CompletionPipeline(engine, CompletionSettings())
    deadline = time.monotonic() + 3
    out = run_with_hold(
        pipeline, snap("█\n"), CancelToken(), time.monotonic() + 0.05, deadline, None, generate_s=1.5
    )
    assert out.generation is not None
    # the prefill during the debounce and the generation both carry the deadline and generation time
    assert [(r.kind, r.deadline, r.generate_s) for r in engine.requests] == [
        ("prefill", deadline, 1.5),
        ("completion", deadline, 1.5),
    ]


@pytest.mark.parametrize("live_progress", [False, True])
def test_the_token_limit_counts_tokens_either_way(live_progress: bool) -> None:
    engine = ScriptedEngine("x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]\n", live_progress=live_progress)
    out = CompletionPipeline(engine).run(snap("█\n"), CancelToken(), max_tokens=5)
    assert out.generation is not None and out.generation.n_generated == 5


def test_partials_are_throttled_and_grow() -> None:
    engine = ScriptedEngine("total = sum(values) + offset * scale - bias\n")
    ctx = CompletionContext("def f(values):\n    ", "\n", "python")
    seen: list[str] = []
    run = GenerationRun(engine, ctx, Outcome(), time.perf_counter(), limit=64, on_partial=seen.append)
    text = ""
    for piece in ["total", " =", " sum", "(", "values", ")", " +", " offset"]:
        text += piece
        assert run.on_text(text)
    assert seen and seen[0] == "total"  # the first one goes out at once, the rest wait 40 ms
    assert len(seen) < 8
    time.sleep(GenerationRun.PARTIAL_INTERVAL_S + 0.01)
    assert run.on_text(text + " *")
    assert seen[-1] == text + " *"


STREAMS = {
    # the final pass's syntax cut drops a line that ends badly; its first word alone parsed fine
    "syntax-cut": ("def add(a, b):\n    █\n", "total = a\n    kipobe = (a +\n", {}, None),
    # a block that repeats is cut after its first copy; the second copy streams in line by line
    "repeated-block": (
        "def f(a):\n    █\n",
        "x = g(a)\n    y = h(x)\n    x = g(a)\n    y = h(x)\n    z = 1\n",
        {},
        None,
    ),
    # a piece that loops within the line is cut after its first copy; the copies stream in word by word
    "inline-loop": ("def f(a):\n    █\n", "x = wimace" + ".cawuca" * 8 + "\n", {}, None),
    # lines that run on into the code after the cursor are cut once the next line confirms the run-on
    "run-on": (
        "int f(int a) {\n  █\n  }\n  return a;\n}\n",
        "a += 1;\n  }\n  return a;\n}\n",
        {"max_lines": 0},
        None,
    ),
    # at the deadline, a line without a line end keeps its complete words only
    "deadline-word": ("def f(values):\n    █\n", "total = sum(values) + offset_value\n", {}, 8),
}


@pytest.mark.parametrize("case", sorted(STREAMS))
def test_each_streamed_partial_is_a_prefix_of_the_final_answer(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The suggestion on screen only grows: no partial holds text that the final answer drops."""
    document, answer, overrides, deadline_after = STREAMS[case]
    monkeypatch.setattr(GenerationRun, "PARTIAL_INTERVAL_S", 0.0)  # every token may send a partial
    language = "c" if document.startswith("int ") else "python"
    settings = CompletionSettings(mode="multi", **overrides)
    engine = ScriptedEngine(answer, deadline_after=deadline_after)
    partials: list[str] = []
    deadline = time.monotonic() + 60 if deadline_after is not None else None
    out = CompletionPipeline(engine, settings).run(
        snap(document, language), CancelToken(), partials.append, deadline=deadline
    )
    assert out.kind is OutcomeKind.SHOWN and partials, (out.label, partials)
    assert len(out.text) < len(out.raw.rstrip())  # the final pass did drop some of what streamed in
    for before, after in itertools.pairwise(partials):
        assert after.startswith(before) and after != before, partials
    assert all(out.text.startswith(p) for p in partials), (out.text, partials)


def test_early_answer_then_continuation() -> None:
    """The answer goes out as soon as it is complete; what the model writes next is the completion at
    the place that accepting the answer leads to."""
    engine = ScriptedEngine("1, 2) + g(3)\ny = 2\n")
    ready: list[Outcome] = []
    out = CompletionPipeline(engine, CompletionSettings(mode="single")).run(
        snap("x = f(█)\n"), CancelToken(), on_ready=ready.append, continue_tokens=32
    )
    assert ready == [out] and out.kind is OutcomeKind.SHOWN
    assert (out.text, out.replace_end) == ("1, 2)", 1)
    assert out.continuation is not None
    assert (out.continuation.prefix, out.continuation.suffix) == ("x = f(1, 2)", "\n")
    assert out.continuation.processed.text == " + g(3)"
    assert out.continued_tokens > 0


@pytest.mark.parametrize(
    ("stop_reason", "kept"),
    [
        ("callback", " + g(3) + h(4)"),
        ("length", " + g(3) + h(4)"),
        ("deadline", " + g(3) +"),
        ("cancelled", None),
    ],
)
def test_what_follows_an_early_answer_is_kept_unless_cancelled(stop_reason: str, kept: str | None) -> None:
    """With real weights the text after the answer often ends by itself; with noise it runs to its token
    limit or the deadline, and is then kept as an answer there would be: a request at that place waits
    for it instead of generating again."""
    from qwen_ls.completion import GenerationRun
    from qwen_ls.postprocess import Processed

    engine = ScriptedEngine("")
    ctx = CompletionContext(prefix="x = f(", suffix=")\n", language="python", settings=CompletionSettings())
    run = GenerationRun(engine, ctx, Outcome(), 0.0, limit=16)
    run.on_ready = lambda out: None
    run._answer(Processed(text="1, 2)", replace_end=1, reason="statement", multiline=False))
    raw = {"callback": "1, 2) + g(3) + h(4)\n", "deadline": "1, 2) + g(3) + hyp"}.get(
        stop_reason, "1, 2) + g(3) + h(4)"
    )
    run.finish_continuation(GenerationResult(text=raw, stop_reason=stop_reason, n_generated=12))
    after = run.out.continuation
    if kept is None:
        assert after is None
    else:
        assert after is not None and (after.prefix, after.suffix) == ("x = f(1, 2)", "\n")
        assert after.processed.text == kept


def test_a_cancelled_continuation_is_not_kept() -> None:
    class CancelAfterAnswer(ScriptedEngine):
        def generate(self, request, cancel, on_text=None):  # type: ignore[no-untyped-def]
            def cancel_after(text: str) -> bool:
                keep = on_text(text) if on_text is not None else True
                if "\n" in text:  # the answer went out at the line end; its continuation is cancelled
                    cancel.cancel()
                return keep

            return super().generate(request, cancel, cancel_after)

    engine = CancelAfterAnswer("1, 2) + g(3)\ny = h(4) + k(5) + m(6)\n")
    out = CompletionPipeline(engine, CompletionSettings(mode="single")).run(
        snap("x = f(█)\n"), CancelToken(), on_ready=[].append, continue_tokens=32
    )
    assert out.text == "1, 2)" and out.continuation is None


def test_max_document_bytes_counts_bytes() -> None:
    """`completion.maxDocumentBytes` is in bytes, as the README says, wherever the pipeline runs."""
    document = "s = '" + "é" * 40 + "'\n█"  # 47 characters, 87 bytes
    engine = ScriptedEngine("x = 1\n")
    small = CompletionPipeline(engine, CompletionSettings(max_document_bytes=60))
    out = small.run(snap(document), CancelToken())
    assert (out.kind, out.reason, engine.requests) == (OutcomeKind.EMPTY, "too-large", [])
    roomy = CompletionPipeline(engine, CompletionSettings(max_document_bytes=100))
    assert roomy.run(snap(document), CancelToken()).kind is OutcomeKind.SHOWN


# -- one pipeline for the command line and the server ----------------------------------------------------


def _merged(low: dict[str, Any], high: dict[str, Any]) -> dict[str, Any]:
    out = dict(low)
    for key, value in high.items():
        out[key] = _merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def _cli_pipeline(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    engine: ScriptedEngine,
    argv: list[str],
    extra: dict[str, Any],
) -> tuple[CompletionPipeline, Snapshot]:
    """Run `qwen-ls complete` in-process with `engine`; the pipeline and snapshot it built."""
    from qwen_ls.commands import complete, engine_cli

    real_load = engine_cli.load_cli_settings
    monkeypatch.setattr(engine_cli, "load_engine", lambda settings: (engine, 0.0))
    monkeypatch.setattr(engine_cli, "load_cli_settings", lambda layer: real_load(_merged(extra, layer)))
    seen: list[tuple[CompletionPipeline, Snapshot]] = []

    def run(self: CompletionPipeline, snap: Snapshot, cancel: CancelToken, *a: Any, **k: Any) -> Outcome:
        seen.append((self, snap))
        return Outcome()

    monkeypatch.setattr(CompletionPipeline, "run", run)
    src = tmp_path / "m.py"
    src.write_text("def add(a, b):\n    \n")
    parser = argparse.ArgumentParser()
    complete.register(parser.add_subparsers())
    args = parser.parse_args(["complete", str(src), "--line", "2", "--column", "5", "--no-context", *argv])
    assert args.func(args) == 0
    return seen[0]


async def test_cli_and_server_build_the_same_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qwen_ls.completion_service import CompletionService
    from qwen_ls.scheduler import EngineLane
    from qwen_ls.stats import Stats

    layer = {
        "completion": {
            "mode": "multi",
            "maxLines": 3,
            "syntaxAware": False,
            "minTokens": 5,
            "suffixTokens": 32,
        }
    }
    engine = ScriptedEngine("pass\n")
    cli, snapshot = _cli_pipeline(tmp_path, monkeypatch, engine, ["--max-tokens", "20"], layer)

    settings, warnings = load_settings(layer, {"completion": {"maxTokens": 20}})
    assert warnings == []
    lane = EngineLane()
    try:
        service = CompletionService(lane, Stats())
        service.configure(settings, engine, None)
        server = service.pipeline
        assert server is not None
        assert server.settings == cli.settings == settings.completion
        assert cli.settings.min_tokens == 5  # the command line used to drop it
        assert server.completion_context(snapshot) == cli.completion_context(snapshot)
        assert server.build_prompt(snapshot)[0].tokens == cli.build_prompt(snapshot)[0].tokens
    finally:
        lane.close()
    await asyncio.sleep(0)


def test_completion_settings_are_the_prompt_and_postprocess_settings() -> None:
    from qwen_ls.postprocess import PostprocessSettings
    from qwen_ls.prompt import PromptSettings

    c = Settings().completion
    assert isinstance(c, PromptSettings) and isinstance(c, PostprocessSettings)
    names = {f.name for f in dataclasses.fields(CompletionSettings)}
    assert {f.name for f in dataclasses.fields(PostprocessSettings)} <= names
    assert {f.name for f in dataclasses.fields(PromptSettings)} <= names


def test_a_completion_that_starts_on_a_new_line_streams_its_first_line() -> None:
    """Line breaks before any text are not a complete line: the first line with text streams as it
    grows (it showed nothing at all until a second line break came, which a short answer never has)."""
    from qwen_ls.completion import settled

    assert settled("\n    total = add(a,", deadline=False) == "\n    total = add(a,"
    assert settled("\n\n    total = ad", deadline=True) == "\n\n    total = "
    assert settled("\n    total = 1\n    ret", deadline=False) == "\n    total = 1\n"
