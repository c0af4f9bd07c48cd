"""KV cache reuse planning for the embedded engine: the common prefix, then chunks shifted to earlier
positions (as llama-server's `--cache-reuse` does). Split out of `qwen_ls.engine.llama`."""

from __future__ import annotations

from collections.abc import Sequence


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
