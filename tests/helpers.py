"""Test helpers shared by unit tests: a deterministic tokenizer that needs no model."""

from __future__ import annotations

import re
from collections.abc import Sequence

from qwen_ls import qwen

_PIECES = re.compile(r"\s*[A-Za-z_]+|\s*\d|\s*[^\sA-Za-z_\d]|\s+")


class FakeTokenizer:
    """Words, digits, punctuation and whitespace runs as tokens; special texts as their Qwen ids."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._texts: dict[int, str] = {}

    def tokenize(self, text: str) -> list[int]:
        out = []
        for piece in _PIECES.findall(text):
            tid = self._ids.get(piece)
            if tid is None:
                tid = self._ids[piece] = len(self._ids) + 1
                self._texts[tid] = piece
            out.append(tid)
        return out

    def detokenize(self, tokens: Sequence[int]) -> str:
        return "".join(self._texts.get(t, "") for t in tokens)

    def token_to_bytes(self, token: int) -> bytes:
        return self._texts.get(token, "").encode()

    def special_id(self, text: str) -> int | None:
        return qwen.SPECIAL_IDS.get(text)
