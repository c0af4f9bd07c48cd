"""Reading one streamed completion: server-sent events in, text out, with our stop rules.

The same for every wire format (each turns its events into `Piece`s): stop texts are cut wherever they
appear, a stop id ends the stream, the callback may end it, a cancel or the deadline ends it between events
(the watchdog ends a blocked read). With `GenerationRequest.generate_s` the deadline waits for the first
token and then gives generation that long. Leaving early closes the connection, so the server stops.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Literal

from httpx_sse import ServerSentEvent

from qwen_ls import qwen
from qwen_ls.engine.base import CancelToken, GenerationRequest, GenerationResult, TextCallback, Tokenizer
from qwen_ls.engine.remote.client import Failure
from qwen_ls.engine.remote.wire import Piece, WireFormat


@dataclass
class StreamRead:
    """The state of one streamed completion; `read` fills `result`."""

    wire: WireFormat
    tokenizer: Tokenizer
    request: GenerationRequest
    cancel: CancelToken
    on_text: TextCallback | None
    result: GenerationResult
    stop_ids: AbstractSet[int]
    t0: float
    parts: list[str] = field(default_factory=list)
    #: the server's context size, if an event reported it
    n_ctx: int | None = None
    #: told when the first token moves the deadline (the watchdog that ends a blocked read)
    on_deadline: Callable[[float | None], None] | None = None

    def __post_init__(self) -> None:
        #: when the read ends: with `generate_s`, none while the server evaluates the prompt, then
        #: `generate_s` after the first token (as the embedded engine: late rather than empty)
        self.deadline = self.request.prefill_deadline

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def read(self, events: Iterator[ServerSentEvent]) -> None:
        result = self.result
        for sse in events:
            if self.cancel.cancelled:
                result.stop_reason = "cancelled"
                break
            if self.deadline is not None and time.monotonic() >= self.deadline:
                result.stop_reason = "deadline"
                break
            data = sse.data.strip()
            if not data:
                continue
            if data == "[DONE]":
                if not result.stop_reason:
                    # No finish_reason: the server ended the stream early (an interrupted request).
                    result.stop_reason = "length"
                _drain(events)
                break
            end = self._take(self._parse(data))
            if end == "drain":
                _drain(events)
            if end:
                break
        else:
            if not result.stop_reason:
                result.stop_reason = "length" if result.n_generated >= self.request.max_tokens else "stop"
        if result.t_first_token:
            result.t_generate = time.monotonic() - self.t0 - result.t_first_token
        if not result.stop_reason:
            result.stop_reason = "stop"

    def _generation_started(self) -> None:
        """The first token: from now on generation has `generate_s`, past the deadline if need be."""
        if self.request.generate_s is None or self.request.deadline is None:
            return
        self.deadline = self.request.generation_deadline(time.monotonic())
        if self.on_deadline is not None:
            self.on_deadline(self.deadline)

    def _parse(self, data: str) -> Piece:
        try:
            event = json.loads(data)
        except ValueError:
            raise Failure(f"unreadable stream event {data[:80]!r}") from None
        if not isinstance(event, dict):
            raise Failure(f"unreadable stream event {data[:80]!r}")
        if "error" in event:
            err = event["error"]
            message = err.get("message", err) if isinstance(err, dict) else err
            raise Failure(f"the server reported an error: {message}")
        piece = self.wire.parse_event(event, self.result, self.stop_ids, self.tokenizer)
        if piece.n_ctx is not None:
            self.n_ctx = piece.n_ctx
        return piece

    def _take(self, piece: Piece) -> Literal["", "end", "drain"]:
        """Add one event's piece; "end" when the stream must end here, "drain" when it ended by itself
        (read the rest so the connection is reused), "" to read on."""
        result = self.result
        if piece.text:
            if not result.t_first_token:
                result.t_first_token = result.t_prefill = time.monotonic() - self.t0
                self._generation_started()
            self.parts.append(piece.text)
        full = self.text
        cut = min((i for s in qwen.STOP_TEXTS if (i := full.find(s)) >= 0), default=-1)
        if cut >= 0:
            self.parts[:] = [full[:cut]]
            result.stop_reason = "stop"
            return "end"
        if piece.hit_stop:
            result.stop_reason = "stop"
            return "end"
        if piece.text and self.on_text is not None and not self.on_text(full):
            result.stop_reason = "callback"
            return "end"
        if piece.finished:
            return "drain"
        if result.n_generated > self.request.max_tokens + 8:
            # The server enforces max_tokens itself (and then sends its timings); this guards against one
            # that ignores it.
            result.stop_reason = "length"
            return "end"
        return ""


def _drain(events: Iterator[ServerSentEvent]) -> None:
    """Read what is left of a finished stream (its terminating chunk), so the connection is reused."""
    for n, _ in enumerate(events):
        if n > 64:
            break
