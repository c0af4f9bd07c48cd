"""The in-process llama.cpp engine, written on llama-cpp-python's low-level bindings.

Why not `llama_cpp.Llama`: its `suffix=` FIM path inserts wrong tokens, its detokenizer truncates pieces
longer than 32 bytes, `verbose=False` redirects fd 1 (our JSON-RPC channel) during load, and its KV
reuse is longest-common-prefix only (design.md). Here we own the token loop: the prompt is our list of
ids, prefill runs in chunks and generation token by token with the cancel token checked in between,
pieces are decoded with a growing buffer and an incremental UTF-8 decoder, and the KV cache is reused by
common prefix plus shifted chunks (as llama-server's `--cache-reuse` does).

One `LlamaEngine` owns one llama context and is used by exactly one worker thread.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from qwen_ls import qwen
from qwen_ls.engine.base import (
    CancelToken,
    EngineError,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
    TextCallback,
)

log = logging.getLogger(__name__)
llama_log = logging.getLogger("llama.cpp")

_lib_lock = threading.Lock()
_lib: Any = None
_log_callback: Any = None  # keep the ctypes callback alive for the life of the process


def _llama() -> Any:
    """Import llama_cpp once, initialise the backend and route its logging to Python logging (stderr)."""
    global _lib, _log_callback
    with _lib_lock:
        if _lib is not None:
            return _lib
        try:
            import llama_cpp
        except Exception as exc:  # pragma: no cover - depends on the install
            raise EngineError(
                f"llama-cpp-python could not be imported: {exc}",
                "reinstall it: pip install --force-reinstall llama-cpp-python",
            ) from exc

        # ggml_log_level: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (continues the previous record)
        levels = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}

        @llama_cpp.llama_log_callback
        def _route(level: int, text: bytes, _user: Any) -> None:
            # llama.cpp logs a lot at INFO during load; keep it at DEBUG unless it is a warning or error.
            py_level = levels.get(level, logging.DEBUG)
            if py_level < logging.WARNING:  # load chatter stays at DEBUG
                py_level = logging.DEBUG
            if llama_log.isEnabledFor(py_level):
                msg = text.decode("utf-8", "replace").rstrip()
                if msg:
                    llama_log.log(py_level, "%s", msg)

        _log_callback = _route
        # backend init resets the log callback: set ours after it
        llama_cpp.llama_backend_init()
        llama_cpp.llama_log_set(_route, ctypes.c_void_p(0))
        _lib = llama_cpp
        return _lib


@dataclass(frozen=True)
class EngineSettings:
    """Settings of the embedded engine (the `engine` section, minus the remote ones)."""

    #: Context size in tokens (prompt + generation).
    n_ctx: int = 4096
    #: Prefill chunk size; cancellation is checked between chunks.
    n_batch: int = 256
    #: CPU threads; 0 = one per physical core (capped at 8).
    threads: int = 0
    #: Layers offloaded to a GPU (-1 = all); 0 on a CPU-only build.
    gpu_layers: int = 0
    #: Flash attention: "auto", "on" or "off".
    flash_attention: str = "auto"
    #: Minimum length of a cached chunk that is reused by shifting its KV positions (0 disables shifting).
    cache_reuse: int = 32

    def validate(self) -> list[str]:
        problems = []
        if self.n_ctx < 256:
            problems.append("nCtx must be at least 256")
        if self.n_batch < 8:
            problems.append("nBatch must be at least 8")
        if self.flash_attention not in ("auto", "on", "off"):
            problems.append("flashAttention must be auto, on or off")
        return problems


def default_threads() -> int:
    n = os.cpu_count() or 2
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    return max(1, min(n, 8))


class LlamaTokenizer:
    """Tokenizer over a llama.cpp vocabulary. Read-only: safe to use from any thread."""

    def __init__(self, lib: Any, vocab: Any, owner: Any = None) -> None:
        self._lib = lib
        self._vocab = vocab
        self._owner = owner  # keeps the model that owns the vocab alive
        self.n_vocab = int(lib.llama_vocab_n_tokens(vocab))
        self._piece_cache: dict[int, bytes] = {}
        self._special_cache: dict[str, int | None] = {}

    def tokenize(self, text: str) -> list[int]:
        if not text:
            return []
        data = text.encode("utf-8")
        n_max = len(data) + 8
        buf = (self._lib.llama_token * n_max)()
        n = self._lib.llama_tokenize(self._vocab, data, len(data), buf, n_max, False, False)
        if n < 0:
            n_max = -n
            buf = (self._lib.llama_token * n_max)()
            n = self._lib.llama_tokenize(self._vocab, data, len(data), buf, n_max, False, False)
        return list(buf[:n])

    def count(self, text: str) -> int:
        return len(self.tokenize(text))

    def token_to_bytes(self, token: int) -> bytes:
        """The bytes of one token, with a buffer that grows (llama-cpp-python's own is 32 bytes)."""
        cached = self._piece_cache.get(token)
        if cached is not None:
            return cached
        size = 64
        while True:
            buf = ctypes.create_string_buffer(size)
            n = self._lib.llama_token_to_piece(self._vocab, token, buf, size, 0, False)
            if n >= 0:
                piece = buf.raw[:n]
                break
            size = -n + 1
        if len(self._piece_cache) < 200_000:
            self._piece_cache[token] = piece
        return piece

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.token_to_bytes(t) for t in tokens).decode("utf-8", "replace")

    def special_id(self, text: str) -> int | None:
        """Id of a special token by its text, found by tokenizing with special parsing."""
        if text in self._special_cache:
            return self._special_cache[text]
        data = text.encode("utf-8")
        buf = (self._lib.llama_token * 8)()
        n = self._lib.llama_tokenize(self._vocab, data, len(data), buf, 8, False, True)
        found = int(buf[0]) if n == 1 else None
        self._special_cache[text] = found
        return found

    def fim_ids(self) -> dict[str, int]:
        """FIM token ids as llama.cpp found them (by text, since Qwen GGUFs rarely carry the metadata)."""
        lib = self._lib
        out: dict[str, int] = {}
        for name, fn in (
            ("prefix", lib.llama_vocab_fim_pre),
            ("suffix", lib.llama_vocab_fim_suf),
            ("middle", lib.llama_vocab_fim_mid),
            ("pad", lib.llama_vocab_fim_pad),
            ("repo_name", lib.llama_vocab_fim_rep),
            ("file_sep", lib.llama_vocab_fim_sep),
        ):
            tok = int(fn(self._vocab))
            if tok >= 0:
                out[name] = tok
        return out

    def is_eog(self, token: int) -> bool:
        return bool(self._lib.llama_vocab_is_eog(self._vocab, token))


class _Model:
    """An owned llama_model pointer, freed when garbage collected."""

    def __init__(self, lib: Any, path: Path, *, vocab_only: bool, gpu_layers: int = 0) -> None:
        self._lib = lib
        params = lib.llama_model_default_params()
        params.vocab_only = vocab_only
        params.n_gpu_layers = gpu_layers if gpu_layers >= 0 else 999
        params.use_mmap = True
        ptr = lib.llama_model_load_from_file(str(path).encode("utf-8"), params)
        if not ptr:
            raise EngineError(
                f"llama.cpp could not load the model {path}",
                "check that it is a complete GGUF of a supported architecture "
                "(run `qwen-ls check --model PATH`)",
            )
        self.ptr = ptr
        self.vocab = lib.llama_model_get_vocab(ptr)

    def meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(512)
        n = self._lib.llama_model_meta_val_str(self.ptr, key.encode(), buf, 512)
        if n < 0:
            return None
        if n >= 512:
            buf = ctypes.create_string_buffer(n + 1)
            self._lib.llama_model_meta_val_str(self.ptr, key.encode(), buf, n + 1)
        return buf.value.decode("utf-8", "replace")

    def __del__(self) -> None:
        ptr, self.ptr = getattr(self, "ptr", None), None
        if ptr:
            try:
                self._lib.llama_model_free(ptr)
            except Exception:  # pragma: no cover - interpreter shutdown
                pass


@lru_cache(maxsize=4)
def load_tokenizer(path: str | Path) -> LlamaTokenizer:
    """The tokenizer of a GGUF, loaded vocab-only (no weights): enough for exact token budgets."""
    lib = _llama()
    p = Path(path).expanduser()
    if not p.is_file():
        raise EngineError(f"tokenizer model not found: {p}", "give the path of a GGUF file")
    model = _Model(lib, p, vocab_only=True)
    return LlamaTokenizer(lib, model.vocab, owner=model)


def stop_ids_for(tokenizer: LlamaTokenizer) -> frozenset[int]:
    """The whole Qwen stop set as this vocabulary spells it, plus llama.cpp's end-of-generation ids."""
    ids = {tid for text in qwen.STOP_TEXTS if (tid := tokenizer.special_id(text)) is not None}
    ids.update(tokenizer.fim_ids().values())
    eos = int(tokenizer._lib.llama_vocab_eos(tokenizer._vocab))
    if eos >= 0:
        ids.add(eos)
    return frozenset(ids)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    # compare in blocks first: prompts share thousands of tokens
    while i + 64 <= n and a[i : i + 64] == b[i : i + 64]:
        i += 64
    while i < n and a[i] == b[i]:
        i += 1
    return i


def plan_reuse(
    cached: Sequence[int], prompt: Sequence[int], n_past: int, min_chunk: int
) -> list[tuple[int, int, int]]:
    """Chunks of the cache that can be reused at a new position, as llama-server's cache reuse finds them.

    Returns (cache_start, prompt_start, length) triples, in order, for chunks of at least `min_chunk`
    tokens found after the common prefix `n_past`. Chunks only move to earlier positions (content before
    them was removed), which is what happens when a snippet drops out or the prefix window slides.
    Text inserted before a chunk cannot be handled this way: llama.cpp requires each decode to continue a
    sequence's positions, so the inserted tokens can only be evaluated before the chunk's cells exist.
    """
    moves: list[tuple[int, int, int]] = []
    if min_chunk <= 0:
        return moves
    head_c = head_p = n_past
    while head_c < len(cached) and head_p < len(prompt):
        n = 0
        while (
            head_c + n < len(cached) and head_p + n < len(prompt) and cached[head_c + n] == prompt[head_p + n]
        ):
            n += 1
        if n >= min_chunk:
            moves.append((head_c, head_p, n))
            head_c += n
            head_p += n
        else:
            head_c += 1
    return moves


class LlamaEngine:
    """A loaded GGUF model with one llama context, a KV cache kept warm across requests."""

    def __init__(self, path: str | Path, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        lib = self._lib = _llama()
        self.path = Path(path)
        t0 = time.perf_counter()
        s = self.settings
        self._model = _Model(lib, self.path, vocab_only=False, gpu_layers=s.gpu_layers)
        self._tokenizer = LlamaTokenizer(lib, self._model.vocab, owner=self._model)
        cparams = lib.llama_context_default_params()
        n_ctx_train = int(self._model.meta(f"{self._model.meta('general.architecture')}.context_length") or 0)
        self._n_ctx = min(s.n_ctx, n_ctx_train) if n_ctx_train > 0 else s.n_ctx
        cparams.n_ctx = self._n_ctx
        cparams.n_batch = s.n_batch
        cparams.n_ubatch = s.n_batch
        cparams.n_seq_max = 1
        threads = s.threads or default_threads()
        cparams.n_threads = threads
        cparams.n_threads_batch = threads
        cparams.flash_attn_type = {
            "auto": lib.LLAMA_FLASH_ATTN_TYPE_AUTO,
            "on": lib.LLAMA_FLASH_ATTN_TYPE_ENABLED,
            "off": lib.LLAMA_FLASH_ATTN_TYPE_DISABLED,
        }.get(s.flash_attention, lib.LLAMA_FLASH_ATTN_TYPE_AUTO)
        cparams.no_perf = True
        ctx = lib.llama_init_from_model(self._model.ptr, cparams)
        if not ctx:
            raise EngineError(
                f"llama.cpp could not create a context of {self._n_ctx} tokens for {self.path}",
                "lower engine.nCtx or free memory",
            )
        self._ctx = ctx
        self._mem = lib.llama_get_memory(ctx)
        self._can_shift = bool(lib.llama_memory_can_shift(self._mem))
        self._batch = lib.llama_batch_init(s.n_batch, 0, 1)
        self._n_vocab = self._tokenizer.n_vocab
        self.load_seconds = time.perf_counter() - t0
        self.threads = threads
        #: Token ids whose KV entries are in the cache, at positions 0..len-1.
        self._cached: list[int] = []
        self.live: GenerationResult | None = None
        self.stop_ids = stop_ids_for(self._tokenizer)
        self._info = self._read_info()
        fim = self._info.fim_ids
        missing = [k for k in ("prefix", "suffix", "middle") if k not in fim]
        if missing:
            raise EngineError(
                f"{self.path.name} has no FIM tokens ({', '.join('fim_' + m for m in missing)} missing): "
                "it cannot fill in the middle",
                "use a Qwen2.5-Coder base model (not a chat-only model)",
            )
        log.info(
            "loaded %s in %.2fs (%d ctx, %d threads, gpu layers %s)",
            self.path.name,
            self.load_seconds,
            self._n_ctx,
            threads,
            s.gpu_layers,
        )

    # -- protocol -------------------------------------------------------------------------------

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def tokenizer(self) -> LlamaTokenizer:
        return self._tokenizer

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    @property
    def cached_tokens(self) -> list[int]:
        return list(self._cached)

    def close(self) -> None:
        lib = self._lib
        if getattr(self, "_ctx", None):
            lib.llama_batch_free(self._batch)
            lib.llama_free(self._ctx)
            self._ctx = None
        self._cached = []

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover
            pass

    def generate(
        self,
        request: GenerationRequest,
        cancel: CancelToken,
        on_text: TextCallback | None = None,
    ) -> GenerationResult:
        if self._ctx is None:
            raise EngineError("the model is closed", "restart qwen-ls")
        t_start = time.perf_counter()
        prompt = list(request.prompt)
        result = GenerationResult(n_prompt=len(prompt))
        #: the result being filled, readable from the text callback (counts at the moment it is called)
        self.live = result
        if not prompt:
            result.stop_reason = "empty-prompt"
            return result
        max_tokens = max(0, min(request.max_tokens, self._n_ctx - len(prompt)))
        if len(prompt) >= self._n_ctx:
            raise EngineError(
                f"prompt of {len(prompt)} tokens does not fit the context of {self._n_ctx}",
                "raise engine.nCtx or lower completion.maxPromptTokens",
            )

        # 1. Reuse: common prefix, then shifted chunks.
        n_past = common_prefix(self._cached, prompt)
        if n_past == len(prompt) and max_tokens > 0:
            n_past -= 1  # the last prompt token must be evaluated again to get its logits
        result.n_reused = n_past
        if n_past < len(self._cached):
            moves = plan_reuse(
                self._cached, prompt, n_past, self.settings.cache_reuse if self._can_shift else 0
            )
            if max_tokens > 0:
                # never let the final prompt token come from the cache: we need its logits
                moves = [(c, p, n if p + n < len(prompt) else n - 1) for c, p, n in moves]
                moves = [(c, p, n) for c, p, n in moves if n > 0]
            new_cache = self._cached[:n_past]
            lib, mem = self._lib, self._mem
            for c0, p0, n in moves:
                # Same steps as llama-server's cache reuse: drop the gap [p0, c0), move the chunk left.
                # Prompt positions of the moves are contiguous by construction (plan_reuse).
                if p0 != len(new_cache):
                    break
                lib.llama_memory_seq_rm(mem, 0, p0, c0)
                lib.llama_memory_seq_add(mem, 0, c0, c0 + n, p0 - c0)
                new_cache.extend(self._cached[c0 : c0 + n])
                result.n_shifted += n
            self._lib.llama_memory_seq_rm(self._mem, 0, len(new_cache), -1)
            self._cached = new_cache
            n_past = len(new_cache)
        elif n_past > len(self._cached):  # pragma: no cover - impossible by construction
            n_past = len(self._cached)

        # 2. Prefill the rest in chunks; cancellation is checked between chunks.
        to_eval = prompt[n_past:]
        result.n_evaluated = len(to_eval)
        t_prefill0 = time.perf_counter()
        want_logits = max_tokens > 0
        try:
            self._decode_chunks(to_eval, n_past, cancel, request.deadline, want_logits)
        except _Stopped as stop:
            # count what was evaluated before the stop, not what was planned
            result.n_evaluated = len(self._cached) - n_past
            result.stop_reason = stop.reason
            result.t_prefill = time.perf_counter() - t_prefill0
            result.t_total = time.perf_counter() - t_start
            return result
        result.t_prefill = time.perf_counter() - t_prefill0
        if not want_logits:
            result.stop_reason = "length"
            result.t_total = time.perf_counter() - t_start
            return result

        # 3. Generate token by token.
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        text_parts: list[str] = []
        stop_ids = self.stop_ids | request.stop_ids
        t_gen0 = time.perf_counter()
        rng = np.random.default_rng(0) if request.temperature > 0 else None
        reason = "length"
        for i in range(max_tokens):
            token = self._sample(request.temperature, rng)
            if i == 0:
                result.t_first_token = time.perf_counter() - t_start
            result.t_generate = time.perf_counter() - t_gen0
            if token in stop_ids or self._tokenizer.is_eog(token):
                reason = "stop"
                break
            result.tokens.append(token)
            result.n_generated += 1
            piece = decoder.decode(self._tokenizer.token_to_bytes(token))
            if piece:
                text_parts.append(piece)
                if on_text is not None and not on_text("".join(text_parts)):
                    reason = "callback"
                    break
            if cancel.cancelled:
                reason = "cancelled"
                break
            if request.deadline is not None and time.monotonic() >= request.deadline:
                reason = "deadline"
                break
            if i + 1 >= max_tokens:
                break
            try:
                self._decode_chunks([token], len(self._cached), cancel, None, True)
            except _Stopped as stop:  # pragma: no cover - one-token batches do not check
                reason = stop.reason
                break
        tail = decoder.decode(b"", final=True)
        if tail:
            text_parts.append(tail)
        result.text = "".join(text_parts)
        result.stop_reason = reason
        result.t_generate = time.perf_counter() - t_gen0
        result.t_total = time.perf_counter() - t_start
        return result

    # -- internals ------------------------------------------------------------------------------

    def _decode_chunks(
        self, tokens: Sequence[int], pos0: int, cancel: CancelToken, deadline: float | None, last_logits: bool
    ) -> None:
        lib, batch, n_batch = self._lib, self._batch, self.settings.n_batch
        i = 0
        while i < len(tokens):
            if i > 0 and cancel.cancelled:
                raise _Stopped("cancelled")
            if i > 0 and deadline is not None and time.monotonic() >= deadline:
                raise _Stopped("deadline")
            chunk = tokens[i : i + n_batch]
            n = len(chunk)
            batch.n_tokens = n
            for j, tok in enumerate(chunk):
                batch.token[j] = tok
                batch.pos[j] = pos0 + i + j
                batch.n_seq_id[j] = 1
                batch.seq_id[j][0] = 0
                batch.logits[j] = 0
            final = i + n >= len(tokens)
            if final and last_logits:
                batch.logits[n - 1] = 1
            rc = lib.llama_decode(self._ctx, batch)
            if rc != 0:
                # keep bookkeeping right: drop whatever this chunk may have left behind
                lib.llama_memory_seq_rm(self._mem, 0, pos0 + i, -1)
                raise EngineError(f"llama_decode failed ({rc})", "the context may be full; raise engine.nCtx")
            self._cached.extend(chunk)
            i += n
        if cancel.cancelled and tokens:
            raise _Stopped("cancelled")

    def _sample(self, temperature: float, rng: np.random.Generator | None) -> int:
        ptr = self._lib.llama_get_logits_ith(self._ctx, -1)
        logits = np.ctypeslib.as_array(ptr, shape=(self._n_vocab,))
        if temperature <= 0 or rng is None:
            return int(np.argmax(logits))
        z = logits.astype(np.float64) / temperature
        z -= z.max()
        p = np.exp(z)
        p /= p.sum()
        return int(rng.choice(len(p), p=p))

    def _read_info(self) -> ModelInfo:
        m = self._model
        arch = m.meta("general.architecture") or ""

        def meta_int(key: str) -> int:
            v = m.meta(f"{arch}.{key}")
            try:
                return int(v) if v is not None else 0
            except ValueError:
                return 0

        ftype = m.meta("general.file_type")
        return ModelInfo(
            path=str(self.path),
            name=m.meta("general.name") or self.path.stem,
            size_bytes=self.path.stat().st_size,
            architecture=arch,
            n_params=int(self._lib.llama_model_n_params(m.ptr)),
            n_layer=meta_int("block_count"),
            n_embd=meta_int("embedding_length"),
            n_head=meta_int("attention.head_count"),
            n_head_kv=meta_int("attention.head_count_kv"),
            n_ctx_train=meta_int("context_length"),
            n_vocab=self._n_vocab,
            file_type=_FILE_TYPES.get(int(ftype), ftype) if ftype and ftype.isdigit() else (ftype or ""),
            fim_ids=self._tokenizer.fim_ids(),
            chat_template=m.meta("tokenizer.chat_template"),
            backend="embedded",
        )

    def chat_template(self) -> str | None:
        return self._info.chat_template


class _Stopped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: llama_ftype values for the quantizations people use (llama.h).
_FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    32: "BF16",
}
