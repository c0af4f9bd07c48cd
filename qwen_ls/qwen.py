"""Qwen2.5-Coder's special tokens: the one place their text and ids are written down.

Ids are those of the released Qwen2.5-Coder vocabulary. A loaded model is still asked for its own ids
(llama.cpp finds FIM tokens by their text), these are the defaults and what synthetic models use.
"""

from __future__ import annotations

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
