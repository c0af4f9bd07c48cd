"""Token counting for budgets: the model's own tokenizer (a vocab-only load), or a labelled estimate."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

_PIECE = re.compile(r"[A-Za-z]+|\d{1,3}|\s+|[^\sA-Za-z\d]+")


def approximate_tokens(text: str) -> int:
    """A tokenizer-free estimate (words, digit groups, runs of spaces, punctuation runs; long words
    split every 6 letters). Only for when no vocabulary is at hand; it says so wherever it is used."""
    n = 0
    for piece in _PIECE.findall(text):
        if piece[0].isalpha():
            n += 1 + (len(piece) - 1) // 6
        elif piece[0].isspace():
            n += 1 + piece.count("\n") // 2
        else:
            n += max(1, len(piece) // 2)
    return n


def load_counter(model: str | None) -> tuple[Callable[[str], int], str]:
    """A token counter for `model` (GGUF path or catalog name) and a label saying what it is."""
    if model:
        try:
            from qwen_ls.engine.llama import load_tokenizer

            path = Path(model).expanduser()
            if not path.is_file():
                from qwen_ls.models import resolve_model

                path = Path(resolve_model(model, download=False))
            tok = load_tokenizer(path)
            return (lambda text: len(tok.tokenize(text))), f"exact ({path.name})"
        except Exception as exc:  # a missing model must not stop an explanation
            log.warning("token counts are approximate: cannot load the tokenizer of %s: %s", model, exc)
    return approximate_tokens, "approximate (no tokenizer loaded)"
