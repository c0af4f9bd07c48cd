"""Special tokens never reach the user."""

from __future__ import annotations

import pytest

from qwen_ls.postprocess.special import strip_special
from qwen_ls.qwen import SPECIAL_TEXTS, STOP_TEXTS


@pytest.mark.parametrize("stop", STOP_TEXTS)
def test_every_stop_text_ends_the_completion(stop: str) -> None:
    assert strip_special(f"x = 1{stop}y = 2") == ("x = 1", True)


def test_non_stop_special_texts_are_removed() -> None:
    others = [s for s in SPECIAL_TEXTS if s not in STOP_TEXTS]
    assert others, "Qwen has special tokens that are not stop tokens"
    text, stopped = strip_special(f"a{others[0]}b{others[-1]}c")
    assert (text, stopped) == ("abc", False)


def test_earliest_stop_wins() -> None:
    assert strip_special("a<|fim_pad|>b<|endoftext|>c")[0] == "a"


@pytest.mark.parametrize("tail", ["<|", "<|fim", "<|file_se", "<|endoftext"])
def test_partial_special_token_at_the_end_is_held_back(tail: str) -> None:
    assert strip_special("value" + tail) == ("value", False)


def test_ordinary_angle_brackets_are_kept() -> None:
    assert strip_special("a < b")[0] == "a < b"
    assert strip_special("List<int>")[0] == "List<int>"
    assert strip_special("x <| y")[0] == "x <| y"
