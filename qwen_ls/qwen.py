"""Qwen2.5-Coder's special tokens: the one place their text, ids and rules are written down.

Ids are those of the released Qwen2.5-Coder vocabulary. A loaded model is still asked for its own ids
(llama.cpp finds FIM tokens by their text), these are the defaults and what synthetic models use.
Besides the tables: the stop set as a vocabulary spells it (`stop_ids`), token ids rendered as text
with the special tokens written out (`render_tokens`), and text with special-token texts encoded as
their ids (`encode_with_specials`). Fill-in-the-middle assembly lives in `qwen_ls.prompt`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_SUFFIX = "<|fim_suffix|>"
FIM_PAD = "<|fim_pad|>"
REPO_NAME = "<|repo_name|>"
FILE_SEP = "<|file_sep|>"

SPECIAL_IDS: dict[str, int] = {
    ENDOFTEXT: 151643,
    IM_START: 151644,
    IM_END: 151645,
    "<|object_ref_start|>": 151646,
    "<|object_ref_end|>": 151647,
    "<|box_start|>": 151648,
    "<|box_end|>": 151649,
    "<|quad_start|>": 151650,
    "<|quad_end|>": 151651,
    "<|vision_start|>": 151652,
    "<|vision_end|>": 151653,
    "<|vision_pad|>": 151654,
    "<|image_pad|>": 151655,
    "<|video_pad|>": 151656,
    "<tool_call>": 151657,
    "</tool_call>": 151658,
    FIM_PREFIX: 151659,
    FIM_MIDDLE: 151660,
    FIM_SUFFIX: 151661,
    FIM_PAD: 151662,
    REPO_NAME: 151663,
    FILE_SEP: 151664,
}

#: Every text that must end a completion. llama.cpp's own end-of-generation set lacks the three
#: fim_prefix/middle/suffix ids, so we stop on the whole set ourselves (design.md).
STOP_TEXTS: tuple[str, ...] = (
    ENDOFTEXT,
    IM_END,
    FIM_PREFIX,
    FIM_MIDDLE,
    FIM_SUFFIX,
    FIM_PAD,
    REPO_NAME,
    FILE_SEP,
)

#: All special-token texts that must never reach a user's buffer.
SPECIAL_TEXTS: tuple[str, ...] = tuple(SPECIAL_IDS)

VOCAB_SIZE = 151936

#: A vocabulary's id for a special-token text, or None when it lacks it (`Tokenizer.special_id`).
SpecialLookup = Callable[[str], int | None]

_SPECIAL_RE = re.compile(
    "(" + "|".join(re.escape(t) for t in sorted(SPECIAL_TEXTS, key=len, reverse=True)) + ")"
)


class MissingSpecialToken(ValueError):
    """Text names a special token the vocabulary lacks (the model is not a Qwen model of that kind)."""

    def __init__(self, text: str) -> None:
        super().__init__(f"the model's vocabulary has no {text} token")
        self.text = text


def special_ids(lookup: SpecialLookup, *, fallback: bool = False) -> dict[str, int]:
    """Every special token the vocabulary knows, by text. With `fallback`, one it cannot name gets the
    released Qwen2.5-Coder id (for a remote server whose vocabulary we only know by name)."""
    out: dict[str, int] = {}
    for text in SPECIAL_TEXTS:
        tid = lookup(text)
        if tid is None and fallback:
            tid = SPECIAL_IDS[text]
        if tid is not None:
            out[text] = tid
    return out


def stop_ids(lookup: SpecialLookup, *, fallback: bool = False) -> frozenset[int]:
    """The whole stop set (`STOP_TEXTS`) as this vocabulary spells it."""
    ids = special_ids(lookup, fallback=fallback)
    return frozenset(ids[text] for text in STOP_TEXTS if text in ids)


def render_tokens(
    tokens: Sequence[int], specials: Mapping[int, str], detokenize: Callable[[Sequence[int]], str]
) -> str:
    """Token ids as text with each special token written out (`<|fim_prefix|>`); the runs between them
    are decoded whole, so multi-byte characters split across tokens come out right."""
    parts: list[str] = []
    run: list[int] = []
    for token in tokens:
        text = specials.get(token)
        if text is None:
            run.append(token)
            continue
        if run:
            parts.append(detokenize(run))
            run = []
        parts.append(text)
    if run:
        parts.append(detokenize(run))
    return "".join(parts)


def encode_with_specials(text: str, tokenize: Callable[[str], list[int]], lookup: SpecialLookup) -> list[int]:
    """Token ids of prompt text whose special-token texts become their ids (never split into bytes).
    Raises `MissingSpecialToken` for a special text the vocabulary lacks."""
    out: list[int] = []
    for piece in _SPECIAL_RE.split(text):
        if not piece:
            continue
        if _SPECIAL_RE.fullmatch(piece):
            tid = lookup(piece)
            if tid is None:
                raise MissingSpecialToken(piece)
            out.append(tid)
        else:
            out.extend(tokenize(piece))
    return out
