"""The synthetic models' tokenizer: Qwen's byte-level BPE alphabet, merges learned from a small
built-in code text, printable filler tokens, and Qwen2.5-Coder's special tokens at their real ids.

Split out of `make_model` (which re-exports these names); see that module's docstring.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import os
import re
from collections import Counter
from collections.abc import Iterator

from qwen_ls import qwen

#: Qwen2.5-Coder's ids for the six FIM / repo-level tokens.
FIM_TEXTS: tuple[str, ...] = (
    qwen.FIM_PREFIX,
    qwen.FIM_MIDDLE,
    qwen.FIM_SUFFIX,
    qwen.FIM_PAD,
    qwen.REPO_NAME,
    qwen.FILE_SEP,
)

FIRST_SPECIAL_ID = min(qwen.SPECIAL_IDS.values())  # 151643
LAST_SPECIAL_ID = max(qwen.SPECIAL_IDS.values())  # 151664

# gguf.TokenType values, spelled out so importing this module stays light.
TOKEN_NORMAL = 1
TOKEN_CONTROL = 3
TOKEN_USER_DEFINED = 4
TOKEN_UNUSED = 5

VOCAB_SIZE = qwen.VOCAB_SIZE


@functools.lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (the alphabet of byte-level BPE)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


# Qwen2's pre-tokenizer, with \p{L} / \p{N} approximated for Python's `re` (letters: [^\W\d_], numbers: \d).
_PRETOKENIZE = re.compile(
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)"
    r"|(?:[^\r\n\w]|_)?[^\W\d_]+"
    r"|\d"
    r"| ?(?:[^\s\w]|_)+[\r\n]*"
    r"|\s*[\r\n]+"
    r"|\s+(?!\S)"
    r"|\s+"
)

#: The text the tiny tokenizer's merges are learned from: common code in the languages qwen-ls serves.
TRAINING_TEXT = '''\
import os
import sys
from typing import Any, Optional
from pathlib import Path


def hello(x):
    return x


def add(a, b):
    """Return the sum of a and b."""
    return a + b


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x = x
        self.y = y

    def __repr__(self) -> str:
        return f"Point({self.x}, {self.y})"

    def distance(self, other: "Point") -> float:
        return ((self.x - other.x) ** 2 + (self.y - other.y) ** 2) ** 0.5


def read_file(path: str) -> str:
    with open(path, "r", encoding="utf-8") as f:
        return f.read()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.verbose:
        print("verbose mode")
    for i in range(10):
        if i % 2 == 0:
            continue
        print(i)
    result = [item for item in items if item is not None]
    data = {"name": name, "value": value}
    try:
        value = int(text)
    except ValueError:
        value = 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

function hello(name) {
  return "Hello, " + name;
}

const add = (a, b) => a + b;

export default class Counter {
  constructor() {
    this.count = 0;
  }

  increment() {
    this.count += 1;
    return this.count;
  }
}

for (let i = 0; i < items.length; i++) {
  if (items[i] === null) {
    continue;
  }
  console.log(items[i]);
}

interface User {
  id: number;
  name: string;
}

async function fetchUser(id: number): Promise<User> {
  const response = await fetch(`/api/users/${id}`);
  return response.json();
}

package main

import "fmt"

func main() {
	for i := 0; i < 10; i++ {
		fmt.Println(i)
	}
}

func add(a int, b int) int {
	return a + b
}

fn main() {
    let mut count = 0;
    for i in 0..10 {
        count += i;
    }
    println!("{}", count);
}

pub fn add(a: i32, b: i32) -> i32 {
    a + b
}

#include <stdio.h>

int main(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        printf("%s\\n", argv[i]);
    }
    return 0;
}

public class Main {
    public static void main(String[] args) {
        System.out.println("Hello, world");
    }

    private int value;

    public int getValue() {
        return this.value;
    }
}
'''


def pretokenize(text: str) -> list[str]:
    return _PRETOKENIZE.findall(text)


@functools.lru_cache(maxsize=4)
def learn_merges(text: str = TRAINING_TEXT, max_merges: int = 8000, min_count: int = 1) -> tuple[str, ...]:
    """Byte-level BPE merges ("a b" strings, by rank) learned from `text`, deterministically.

    Ties are broken by the pair's text, so the result depends only on the text.
    """
    b2u = bytes_to_unicode()
    freq = Counter("".join(b2u[b] for b in piece.encode("utf-8")) for piece in pretokenize(text))
    words: list[list[str]] = [list(w) for w in freq]
    counts: list[int] = list(freq.values())

    pair_counts: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], set[int]] = {}
    for idx, (word, n) in enumerate(zip(words, counts, strict=True)):
        for pair in itertools.pairwise(word):
            pair_counts[pair] += n
            where.setdefault(pair, set()).add(idx)

    heap = [(-n, pair) for pair, n in pair_counts.items()]
    heapq.heapify(heap)
    merges: list[str] = []
    while heap and len(merges) < max_merges:
        neg, pair = heapq.heappop(heap)
        current = pair_counts.get(pair, 0)
        if current != -neg:  # stale entry
            if current > 0:
                heapq.heappush(heap, (-current, pair))
            continue
        if current < min_count:
            break
        merges.append(f"{pair[0]} {pair[1]}")
        merged = pair[0] + pair[1]
        touched: Counter[tuple[str, str]] = Counter()
        for idx in sorted(where.pop(pair, ())):
            word, n = words[idx], counts[idx]
            for p in itertools.pairwise(word):
                pair_counts[p] -= n
                touched[p] += 0
            out: list[str] = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == pair[0] and word[i + 1] == pair[1]:
                    out.append(merged)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            words[idx] = out
            for p in itertools.pairwise(out):
                pair_counts[p] += n
                touched[p] += 0
                where.setdefault(p, set()).add(idx)
        pair_counts.pop(pair, None)
        for p in touched:
            n = pair_counts.get(p, 0)
            if n <= 0:
                pair_counts.pop(p, None)
            elif p != pair:
                heapq.heappush(heap, (-n, p))
    return tuple(merges)


_CONSONANTS = "bcdfghjklmnprstvwxz"
_VOWELS = "aeiou"
_SYLLABLES = [c + v for c in _CONSONANTS for v in _VOWELS]


def _filler_words() -> Iterator[str]:
    """Distinct identifier-like strings (in byte-level BPE spelling), some with a leading space/newline."""
    n_syl = len(_SYLLABLES)
    variants = ("Ġ{}", "{}", "Ġ{}", "_{}", "Ġ{C}", ".{}", "Ġ{}", "ĊĠĠĠĠ{}", "{}(", "Ġ{}_")
    i = 0
    while True:
        k, rest = 2 + (i >= n_syl**2), i if i < n_syl**2 else i - n_syl**2
        parts = []
        for _ in range(k):
            parts.append(_SYLLABLES[rest % n_syl])
            rest //= n_syl
        word = "".join(parts)
        yield variants[i % len(variants)].format(word, C=word.capitalize())
        i += 1


def _special_type(text: str) -> int:
    # What llama.cpp's converter gives Qwen2.5-Coder's added tokens: `<|...|>` looks special (CONTROL),
    # `<tool_call>` does not (USER_DEFINED).
    return TOKEN_CONTROL if text.startswith("<|") and text.endswith("|>") else TOKEN_USER_DEFINED


def _apply_specials(tokens: list[str], types: list[int], fim_tokens: bool) -> None:
    for text, tid in qwen.SPECIAL_IDS.items():
        if not fim_tokens and text in FIM_TEXTS:
            tokens[tid] = f"[PAD{tid}]"
            types[tid] = TOKEN_UNUSED
        else:
            tokens[tid] = text
            types[tid] = _special_type(text)


@functools.lru_cache(maxsize=1)
def _tiny_vocab_base() -> tuple[tuple[str, ...], tuple[str, ...]]:
    merges = learn_merges()
    b2u = bytes_to_unicode()
    tokens: list[str] = list(b2u.values())
    seen = set(tokens)
    for m in merges:
        merged = m.replace(" ", "", 1)
        if merged not in seen:
            seen.add(merged)
            tokens.append(merged)
    filler = _filler_words()
    while len(tokens) < FIRST_SPECIAL_ID:
        word = next(filler)
        if word not in seen:
            seen.add(word)
            tokens.append(word)
    return tuple(tokens), merges


def tiny_vocab(fim_tokens: bool = True) -> tuple[list[str], list[int], list[str]]:
    """The synthetic vocabulary: (tokens, token types, merges), 151,936 ids."""
    base, merges = _tiny_vocab_base()
    tokens = list(base) + [f"[PAD{i}]" for i in range(FIRST_SPECIAL_ID, VOCAB_SIZE)]
    types = [TOKEN_NORMAL] * FIRST_SPECIAL_ID + [TOKEN_UNUSED] * (VOCAB_SIZE - FIRST_SPECIAL_ID)
    _apply_specials(tokens, types, fim_tokens)
    return tokens, types, list(merges)


def read_vocab(
    path: str | os.PathLike[str], fim_tokens: bool = True
) -> tuple[list[str], list[int], list[str]]:
    """(tokens, types, merges) from a GGUF's tokenizer, with Qwen2.5-Coder's added tokens at their ids."""
    from qwen_ls.models.gguf_meta import read_gguf_meta

    keys = ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges")
    meta = read_gguf_meta(path, load_arrays=keys)
    for key in keys:
        if not isinstance(meta.metadata.get(key), list):
            raise ValueError(f"{path}: no {key} (not a BPE vocabulary GGUF)")
    model = meta.get("tokenizer.ggml.model")
    if model != "gpt2":
        raise ValueError(f"{path}: tokenizer model is {model!r}, expected 'gpt2' (byte-level BPE)")
    tokens: list[str] = list(meta.metadata[keys[0]])
    types: list[int] = [int(t) for t in meta.metadata[keys[1]]]
    merges: list[str] = list(meta.metadata[keys[2]])
    if len(tokens) != VOCAB_SIZE or len(types) != VOCAB_SIZE:
        raise ValueError(f"{path}: {len(tokens)} tokens, expected Qwen's {VOCAB_SIZE}")
    _apply_specials(tokens, types, fim_tokens)
    return tokens, types, merges
