"""The server's tokenizer over HTTP, for a remote engine configured without a local GGUF.

Every call is a round trip, so budgets cost latency: a local vocab-only GGUF (`engine.remote.tokenizerModel`)
is exact and free. The endpoints are the wire format's (`WireFormat.tokenize` / `token_bytes`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from qwen_ls import qwen
from qwen_ls.engine.base import EngineError
from qwen_ls.engine.remote.wire import WireFormat


class RemoteTokenizer:
    """The `Tokenizer` protocol over a wire format's endpoints, with small caches; thread-safe."""

    def __init__(self, wire: WireFormat, cache_size: int = 2048) -> None:
        self._wire = wire
        self._cache: OrderedDict[str, list[int]] = OrderedDict()
        self._pieces: dict[int, bytes] = {}
        self._special: dict[str, int | None] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()
        #: token lists this tokenizer produced, back to their text: a prompt assembled from them is
        #: turned back into text without a detokenize round trip per token
        self._texts: OrderedDict[tuple[int, ...], str] = OrderedDict()

    def tokenize(self, text: str) -> list[int]:
        if not text:
            return []
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return list(hit)
        tokens = self._wire.tokenize(text, special=False)
        with self._lock:
            self._cache[text] = tokens
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            self._texts[tuple(tokens)] = text
            if len(self._texts) > self._cache_size:
                self._texts.popitem(last=False)
        return list(tokens)

    def text_of(self, tokens: Sequence[int]) -> str | None:
        """The text a recent `tokenize` call turned into exactly these tokens, if any."""
        with self._lock:
            return self._texts.get(tuple(tokens))

    def token_to_bytes(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is not None:
            return piece
        piece = self._wire.token_bytes(token)
        if len(self._pieces) < 200_000:
            self._pieces[token] = piece
        return piece

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.token_to_bytes(t) for t in tokens).decode("utf-8", "replace")

    def special_id(self, text: str) -> int | None:
        if text in self._special:
            return self._special[text]
        found: int | None
        try:
            # Asked with special parsing: a special token's text comes back as its one id.
            ids = self._wire.tokenize(text, special=True)
            found = ids[0] if len(ids) == 1 else None
        except EngineError:
            found = qwen.SPECIAL_IDS.get(text)
        self._special[text] = found
        return found
