"""The engine protocol every backend implements, and the small value types that cross it.

An engine is driven from exactly one worker thread (the scheduler's). `generate` blocks that thread,
checks the cancel token between prefill chunks and between generated tokens, and streams text to a
callback that may end the generation early (post-processing decides a completion is complete).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class EngineError(Exception):
    """A failure a user must act on (bad model file, dead server). `fix` says how."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} ({self.fix})" if self.fix else self.message


class CancelToken:
    """Set by the event loop when a request is superseded or cancelled; polled by the worker."""

    __slots__ = ("_event", "_hook", "owner", "reason")

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""
        #: the scheduler job this token belongs to, if any (lets the work answer early and go on idle)
        self.owner: Any = None
        self._hook: Callable[[], None] | None = None

    def cancel(self, reason: str = "cancelled") -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()
            hook = self._hook
            if hook is not None:
                hook()

    def on_cancel(self, hook: Callable[[], None] | None) -> None:
        """Call `hook` on the cancelling thread when this token is cancelled, at once if it already is
        (it may be called twice: it must be idempotent). One hook at a time; None removes it."""
        self._hook = hook
        if hook is not None and self._event.is_set():
            hook()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


class Tokenizer(Protocol):
    """The model's own tokenizer. Text is tokenized without special-token parsing and without BOS."""

    def tokenize(self, text: str) -> list[int]: ...

    def detokenize(self, tokens: Sequence[int]) -> str: ...

    def token_to_bytes(self, token: int) -> bytes: ...

    def special_id(self, text: str) -> int | None:
        """Id of a special token by its text (`<|fim_prefix|>`), or None if the vocabulary lacks it."""
        ...


@dataclass(frozen=True)
class ModelInfo:
    """What a user needs to trust the set-up; filled from the GGUF and from llama.cpp."""

    path: str
    name: str
    size_bytes: int = 0
    architecture: str = ""
    n_params: int = 0
    n_layer: int = 0
    n_embd: int = 0
    n_head: int = 0
    n_head_kv: int = 0
    n_ctx_train: int = 0
    n_vocab: int = 0
    file_type: str = ""
    fim_ids: dict[str, int] = field(default_factory=dict)
    chat_template: str | None = None
    backend: str = "embedded"


@dataclass(frozen=True)
class GenerationRequest:
    """One generation: the prompt as token ids (ours, special ids inserted as integers)."""

    prompt: list[int]
    max_tokens: int = 64
    stop_ids: frozenset[int] = frozenset()
    #: time.monotonic() value after which generation ends with what it has.
    deadline: float | None = None
    #: With a deadline: the prompt's evaluation is not cut by it, and generation may go on for this many
    #: seconds after the evaluation ends (a remote server's first token), past the deadline if need be.
    #: A prompt that was not in the cache then makes the answer late rather than empty (typing on cancels
    #: it; what it evaluated stays in the cache for the next request). None: the deadline cuts the
    #: evaluation too.
    generate_s: float | None = None
    #: Greedy by default: completions should be deterministic for a given prompt.
    temperature: float = 0.0
    #: Kind of work, for the engine's priority lane and metrics: "completion", "prefetch", "warm", "repair".
    kind: str = "completion"

    @property
    def prefill_deadline(self) -> float | None:
        """The deadline while the prompt is evaluated (none with `generate_s`)."""
        return self.deadline if self.generate_s is None else None

    def generation_deadline(self, now: float) -> float | None:
        """The deadline once generation starts at `now`: `generate_s` from then on, past the deadline if
        need be (the deadline itself without `generate_s`)."""
        if self.deadline is None or self.generate_s is None:
            return self.deadline
        return max(self.deadline, now + self.generate_s)


@dataclass
class GenerationResult:
    text: str = ""
    tokens: list[int] = field(default_factory=list)
    #: Why generation ended: "stop" (a stop token), "length", "callback" (post-processing said complete),
    #: "cancelled", "deadline", "error".
    stop_reason: str = ""
    n_prompt: int = 0
    #: Prompt tokens whose KV entries were already in the cache at the right position.
    n_reused: int = 0
    #: Prompt tokens reused from the cache after shifting their positions.
    n_shifted: int = 0
    #: Prompt tokens actually evaluated (prefilled).
    n_evaluated: int = 0
    n_generated: int = 0
    t_prefill: float = 0.0
    t_first_token: float = 0.0
    t_generate: float = 0.0
    t_total: float = 0.0


#: Called with the whole text generated so far; returning False ends the generation ("callback").
TextCallback = Callable[[str], bool]


@dataclass(frozen=True)
class Capabilities:
    """What an engine offers beyond what every engine must do; callers ask this, never `hasattr`."""

    #: `Engine.live` is the generation in flight, its counters updated per token while `on_text` runs
    #: (without it, callers count `on_text` calls, one per streamed piece of text, as tokens).
    live_progress: bool = False


class Engine(Protocol):
    """A loaded model that can tokenize and generate. Not thread-safe: one worker thread uses it."""

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def live(self) -> GenerationResult | None:
        """The generation in flight (with `capabilities.live_progress`); None otherwise."""
        ...

    @property
    def info(self) -> ModelInfo: ...

    @property
    def tokenizer(self) -> Tokenizer: ...

    @property
    def n_ctx(self) -> int: ...

    def generate(
        self,
        request: GenerationRequest,
        cancel: CancelToken,
        on_text: TextCallback | None = None,
    ) -> GenerationResult: ...

    def close(self) -> None: ...
