"""Line arithmetic and the minimal edit of the repair core."""

from __future__ import annotations

import random

import pytest

from qwen_ls.repair.data import Region, TextEdit
from qwen_ls.repair.diff import apply_edits, edits_within, region_edits
from qwen_ls.repair.text import dominant_eol, line_offsets, position_at, split_lines


def _region(text: str, first: int, last: int) -> Region:
    offsets = line_offsets(text)
    end = offsets[last + 1] if last + 1 < len(offsets) else len(text)
    return Region(first, last, offsets[first], end)


def test_split_lines_only_on_lsp_line_endings() -> None:
    text = "a\x0cb\r\nc\rd\ne\u2028f"
    assert split_lines(text) == ["a\x0cb\r\n", "c\r", "d\n", "e\u2028f"]
    assert line_offsets(text) == [0, 5, 7, 9]
    assert position_at(line_offsets(text), 8) == (2, 1)
    assert dominant_eol("a\r\nb\r\nc\n") == "\r\n"
    assert dominant_eol("abc") == "\n"


def test_edit_is_trimmed_to_the_changed_characters() -> None:
    doc = "def f(x)\n    return x\n"
    region = _region(doc, 0, 1)
    edits = region_edits(doc, region, "def f(x):\n    return x\n")
    assert edits == [TextEdit(0, 8, 0, 8, ":")]
    assert apply_edits(doc, edits) == "def f(x):\n    return x\n"


def test_unchanged_region_gives_no_edit() -> None:
    doc = "a\nb\n"
    assert region_edits(doc, _region(doc, 0, 1), "a\nb\n") == []


def test_edits_never_split_crlf_and_roundtrip() -> None:
    doc = "int f() {\r\n  return 1\r\n}\r\nint g;\r\n"
    region = _region(doc, 0, 2)
    new = "int f() {\r\n  return 1;\r\n}\r\n"
    edits = region_edits(doc, region, new)
    assert apply_edits(doc, edits) == doc[: region.start] + new + doc[region.end :]
    for e in edits:
        line = split_lines(doc)[e.start_line]
        assert e.start_character <= len(line.rstrip("\r\n"))
    assert edits_within(doc, region, edits)


@pytest.mark.parametrize("seed", range(40))
def test_random_region_rewrites_roundtrip_and_stay_inside(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = ["a", "b", " ", "(", ")", "\n", "\r\n", "é", "𝄞"]
    doc = "".join(rng.choice(alphabet) for _ in range(rng.randint(5, 80)))
    n = len(line_offsets(doc))
    first = rng.randrange(n)
    last = rng.randrange(first, n)
    region = _region(doc, first, last)
    old = doc[region.start : region.end]
    chars = list(old)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        pos = rng.randint(0, len(chars))
        if op < 0.4 and chars:
            del chars[min(pos, len(chars) - 1)]
        else:
            chars.insert(pos, rng.choice(alphabet))
    new = "".join(chars)
    edits = region_edits(doc, region, new)
    assert apply_edits(doc, edits) == doc[: region.start] + new + doc[region.end :]
    assert edits_within(doc, region, edits)


def test_edits_within_detects_an_edit_outside() -> None:
    doc = "a\nb\nc\n"
    region = _region(doc, 1, 1)
    assert not edits_within(doc, region, [TextEdit(0, 0, 0, 1, "x")])
    assert edits_within(doc, region, [TextEdit(1, 0, 1, 1, "x")])
