"""Special tokens: their text never reaches the user.

A stop token ends the completion (whatever follows belongs to another file or is padding); any other
special-token text is removed; a partial special token at the end of a stream is held back.
"""

from __future__ import annotations

from qwen_ls.qwen import SPECIAL_TEXTS, STOP_TEXTS


def strip_special(text: str, *, final: bool = True) -> tuple[str, bool]:
    """`text` up to the first stop token with other special texts removed, and whether a stop token
    was seen. A trailing fragment that could still become a special token (`<|fim_`) is dropped."""
    stopped = False
    if "<|" in text or "<tool_call>" in text or "</tool_call>" in text:
        cut = len(text)
        for stop in STOP_TEXTS:
            i = text.find(stop)
            if i != -1 and i < cut:
                cut = i
                stopped = True
        text = text[:cut]
        for special in SPECIAL_TEXTS:
            if special in text:
                text = text.replace(special, "")
    if not stopped:
        text = _drop_partial(text)
    return text, stopped


def _drop_partial(text: str) -> str:
    """Drop a tail like `<|fim` that is the start of a special token's text."""
    start = text.rfind("<", max(0, len(text) - 20))
    if start == -1:
        return text
    tail = text[start:]
    if len(tail) >= 2 and any(s.startswith(tail) and s != tail for s in SPECIAL_TEXTS):
        return text[:start]
    return text
