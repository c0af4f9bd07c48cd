"""The in-process llama.cpp engine, written on llama-cpp-python's low-level bindings.

Why not `llama_cpp.Llama`: its `suffix=` FIM path inserts wrong tokens, its detokenizer truncates pieces
longer than 32 bytes, `verbose=False` redirects fd 1 (our JSON-RPC channel) during load, and its KV
reuse is longest-common-prefix only (design.md). Here we own the token loop: the prompt is our list of
ids, prefill runs in chunks and generation token by token with the cancel token checked in between (and
a cancel stops a chunk inside its pass: llama_abort.py), pieces are decoded with a growing buffer and an
incremental UTF-8 decoder, and the KV cache is reused by common prefix plus shifted chunks (as
llama-server's `--cache-reuse` does).

One `LlamaEngine` owns one llama context and is used by exactly one worker thread.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import dataclasses
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from qwen_ls import qwen
from qwen_ls.engine.base import (
    CancelToken,
    Capabilities,
    EngineError,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
    TextCallback,
)
from qwen_ls.engine.llama_abort import AbortSwitch
from qwen_ls.engine.llama_cache import common_prefix, plan_reuse
from qwen_ls.engine.llama_lib import _llama, read_model_info
from qwen_ls.engine.llama_settings import EngineSettings, default_threads
from qwen_ls.engine.speculative import Speculation, verify_draft

log = logging.getLogger(__name__)


class LlamaTokenizer:
    """Tokenizer over a llama.cpp vocabulary. Read-only: safe to use from any thread."""

    def __init__(self, lib: Any, vocab: Any, owner: Any = None) -> None:
        self._lib = lib
        self._vocab = vocab
        self._owner = owner  # keeps the model that owns the vocab alive
        self.n_vocab = int(lib.llama_vocab_n_tokens(vocab))
        self._piece_cache: dict[int, bytes] = {}
        self._special_cache: dict[str, int | None] = {}
        #: calls into llama.cpp in flight and whether `close` was asked: the owner is freed by the last
        #: of them, never under a call running on another thread (the context index counts off the lane)
        self._guard = threading.Lock()
        self._calls = 0
        self._closed = False

    @contextlib.contextmanager
    def _in_use(self) -> Iterator[Any]:
        """The vocab, for one call into llama.cpp (EngineError once the model is closed)."""
        with self._guard:
            if self._closed:
                raise EngineError("the model is closed", "it was unloaded (a model switch)")
            self._calls += 1
        try:
            yield self._vocab
        finally:
            with self._guard:
                self._calls -= 1
                last = self._closed and self._calls == 0
            if last:
                self._free_owner()

    def close(self) -> None:
        """Free the model that owns the vocab now (or when the call running on another thread ends)."""
        with self._guard:
            if self._closed:
                return
            self._closed = True
            idle = self._calls == 0
        if idle:
            self._free_owner()

    def _free_owner(self) -> None:
        owner, self._owner = self._owner, None
        free = getattr(owner, "free", None)
        if free is not None:
            free()

    def tokenize(self, text: str) -> list[int]:
        if not text:
            return []
        data = text.encode("utf-8")
        n_max = len(data) + 8
        buf = (self._lib.llama_token * n_max)()
        with self._in_use() as vocab:
            n = self._lib.llama_tokenize(vocab, data, len(data), buf, n_max, False, False)
            if n < 0:
                n_max = -n
                buf = (self._lib.llama_token * n_max)()
                n = self._lib.llama_tokenize(vocab, data, len(data), buf, n_max, False, False)
        return list(buf[:n])

    def count(self, text: str) -> int:
        return len(self.tokenize(text))

    def token_to_bytes(self, token: int) -> bytes:
        """The bytes of one token, with a buffer that grows (llama-cpp-python's own is 32 bytes)."""
        cached = self._piece_cache.get(token)
        if cached is not None:
            return cached
        size = 64
        with self._in_use() as vocab:
            while True:
                buf = ctypes.create_string_buffer(size)
                n = self._lib.llama_token_to_piece(vocab, token, buf, size, 0, False)
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
        with self._in_use() as vocab:
            n = self._lib.llama_tokenize(vocab, data, len(data), buf, 8, False, True)
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
            with self._in_use() as vocab:
                tok = int(fn(vocab))
            if tok >= 0:
                out[name] = tok
        return out

    def is_eog(self, token: int) -> bool:
        with self._in_use() as vocab:
            return bool(self._lib.llama_vocab_is_eog(vocab, token))


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

    def free(self) -> None:
        """Free the model now (its contexts must be freed first); idempotent."""
        ptr, self.ptr = getattr(self, "ptr", None), None
        if ptr:
            self._lib.llama_model_free(ptr)

    def __del__(self) -> None:
        try:
            self.free()
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
    ids = set(qwen.stop_ids(tokenizer.special_id))
    ids.update(tokenizer.fim_ids().values())
    eos = int(tokenizer._lib.llama_vocab_eos(tokenizer._vocab))
    if eos >= 0:
        ids.add(eos)
    return frozenset(ids)


class LlamaEngine:
    """A loaded GGUF model with one llama context, a KV cache kept warm across requests."""

    capabilities: Capabilities = Capabilities(live_progress=True)

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
        #: the cache length whose last token's logits are in the context's output (-1: none kept). A
        #: prompt evaluated ahead (the hold prefill) then generates with no pass of its own first.
        self._logits_at = -1
        #: stops a multi-token decode mid-pass when its request is cancelled: llama.cpp asks after each
        #: graph node, so a prefill chunk yields in milliseconds rather than at its end (llama_abort.py)
        self._abort = AbortSwitch(lib, ctx)
        self.live: GenerationResult | None = None
        self.stop_ids = stop_ids_for(self._tokenizer)
        #: drafter, draft-length policy and counters of speculative decoding
        self.speculation = Speculation(s.speculative, min(s.draft_max, s.n_batch - 1))
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

    def forget_logits(self) -> None:
        """The cache was replaced from outside the token loop (a KV checkpoint restored): the logits
        in the context's output no longer belong to its last token."""
        self._logits_at = -1

    def close(self) -> None:
        """Free the llama context, then the model (now, not when the garbage collector finds them: a
        model switch must give the old model's memory back). Runs on the engine lane."""
        lib = self._lib
        if getattr(self, "_ctx", None):
            lib.llama_batch_free(self._batch)
            lib.llama_free(self._ctx)
            self._ctx = None
        self._cached = []
        tokenizer = getattr(self, "_tokenizer", None)
        if tokenizer is not None:
            tokenizer.close()  # frees the model once no other thread is tokenizing with it

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
        n_past = self._reuse(prompt, max_tokens, result)

        # 2. Prefill the rest in chunks; cancellation is checked between chunks.
        to_eval = prompt[n_past:]
        result.n_evaluated = len(to_eval)
        t_prefill0 = time.perf_counter()
        want_logits = max_tokens > 0
        try:
            # the last token's logits cost one row of the output layer in a batch: kept, they spare the
            # request that generates from this prompt a pass of its own (the hold prefill, then generation)
            self._decode_chunks(to_eval, n_past, cancel, request.prefill_deadline, True)
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
        if request.generate_s is not None:
            later = request.generation_deadline(time.monotonic())
            request = dataclasses.replace(request, deadline=later)
        self._generate_tokens(request, cancel, on_text, result, prompt, n_past + len(to_eval), t_start)
        return result

    def _reuse(self, prompt: list[int], max_tokens: int, result: GenerationResult) -> int:
        """Keep what the KV cache holds of `prompt` (common prefix, then shifted chunks); returns the
        number of prompt tokens in place."""
        n_past = common_prefix(self._cached, prompt)
        kept_logits = n_past == len(prompt) == len(self._cached) == self._logits_at
        if n_past == len(prompt) and max_tokens > 0 and not kept_logits:
            n_past -= 1  # the last prompt token must be evaluated again to get its logits
        result.n_reused = n_past
        if n_past < len(self._cached):
            self._logits_at = -1
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
        return n_past

    def _generate_tokens(
        self,
        request: GenerationRequest,
        cancel: CancelToken,
        on_text: TextCallback | None,
        result: GenerationResult,
        prompt: list[int],
        n_prompt_cached: int,
        t_start: float,
    ) -> None:
        """The token loop after prefill (`n_prompt_cached`: the prompt's tokens now in the cache):
        sample or take verified draft tokens, stream text, stop on a stop token, cancel or deadline."""
        max_tokens = max(0, min(request.max_tokens, self._n_ctx - len(prompt)))
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        text_parts: list[str] = []
        stop_ids = self.stop_ids | request.stop_ids
        t_gen0 = time.perf_counter()
        rng = np.random.default_rng(0) if request.temperature > 0 else None
        reason = "length"
        #: greedy's next tokens from a verified draft; all but the last are in the cache already
        ahead: list[int] = []
        context = list(prompt) if rng is None else []  # what the drafter searches, grown per token
        for i in range(max_tokens):
            token = ahead.pop(0) if ahead else self._sample(request.temperature, rng)
            if i == 0:
                result.t_first_token = time.perf_counter() - t_start
            result.t_generate = time.perf_counter() - t_gen0
            if token in stop_ids or self._tokenizer.is_eog(token):
                reason = "stop"
                break
            result.tokens.append(token)
            result.n_generated += 1
            if rng is None:
                context.append(token)
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
            if ahead:
                continue  # this token was verified as a draft: its KV cells are in place
            try:
                ahead = self._advance(token, context, max_tokens - i - 1, cancel, greedy=rng is None)
            except _Stopped as stop:  # pragma: no cover - one-token batches do not check
                reason = stop.reason
                break
        if ahead:  # stopped inside an accepted draft: drop what plain decoding would not have evaluated
            keep = n_prompt_cached + len(result.tokens) - (0 if reason == "stop" else 1)
            if keep < len(self._cached):
                self._lib.llama_memory_seq_rm(self._mem, 0, keep, -1)
                del self._cached[keep:]
        tail = decoder.decode(b"", final=True)
        if tail:
            text_parts.append(tail)
        result.text = "".join(text_parts)
        result.stop_reason = reason
        result.t_generate = time.perf_counter() - t_gen0
        result.t_total = time.perf_counter() - t_start

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
            self._logits_at = -1
            # a batch stops mid-pass when its request is cancelled (one token's pass is short enough)
            with self._abort.armed(cancel if n > 1 else None):
                rc = lib.llama_decode(self._ctx, batch)
            if rc != 0:
                # keep bookkeeping right: drop whatever this chunk may have left behind
                lib.llama_memory_seq_rm(self._mem, 0, pos0 + i, -1)
                if rc == 2 and cancel.cancelled:  # aborted by the switch
                    raise _Stopped("cancelled")
                raise EngineError(f"llama_decode failed ({rc})", "the context may be full; raise engine.nCtx")
            self._cached.extend(chunk)
            i += n
            if final and last_logits:
                self._logits_at = len(self._cached)
        if cancel.cancelled and tokens:
            raise _Stopped("cancelled")

    def _advance(
        self, token: int, context: list[int], room: int, cancel: CancelToken, *, greedy: bool
    ) -> list[int]:
        """Evaluate `token`, with a draft of up to `room - 1` tokens verified in the same pass when
        greedy and a drafter offers one. Returns greedy's next tokens from the verified draft, or []
        when the next token is to be sampled from the logits of this pass."""
        spec = self.speculation
        room = min(room - 1, self._n_ctx - len(self._cached) - 1)
        draft = spec.propose(context, room) if greedy else []
        t0 = time.perf_counter()
        if not draft:
            self._decode_chunks([token], len(self._cached), cancel, None, True)
            spec.record(0, 0, time.perf_counter() - t0)
            return []
        ctx, mem, batch = self._ctx, self._mem, self._batch
        self._logits_at = -1  # the verified rows are read at once; the kept cache may end before them
        ahead = verify_draft(self._lib, ctx, mem, batch, self._n_vocab, self._cached, token, draft)
        spec.record(len(draft), len(ahead) - 1, time.perf_counter() - t0)
        return ahead

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
        return read_model_info(self._lib, self._model, self.path, self._n_vocab, self._tokenizer.fim_ids())

    def chat_template(self) -> str | None:
        return self._info.chat_template


class _Stopped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
