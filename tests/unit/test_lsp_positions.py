"""Property-based tests (Hypothesis) of LSP positions, line rules and incremental edits (issue 15).

The reference model below is written independently of `qwen_ls.lsp.positions`, one character at a
time, straight from the LSP text: lines end at \\n, \\r\\n or \\r only; a character counts 1 or 2
UTF-16 units, 1-4 UTF-8 bytes, or 1 UTF-32 unit; a character past the end of a line means its end;
a unit inside a character means the start of that character.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.workspace.position_codec import PositionCodec

from qwen_ls.lsp.documents import Document
from qwen_ls.lsp.positions import ENCODINGS, LineIndex, PositionError, split_lines
from qwen_ls.prompt import build_window

#: astral characters, CR/LF mixes, the characters str.splitlines wrongly splits on, NUL, a BOM
ATOMS = [
    "a", "b", " ", "\t", "\n", "\r", "\r\n", "\u2028", "\u2029", "\x85", "\x0c", "\x0b",
    "\x1c", "\x1d", "\x1e", "\x00", "é", "中", "😀", "𝄞", "\ufeff",
]  # fmt: skip
PIECES = st.one_of(
    st.sampled_from(ATOMS),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "😀", "é "]), st.integers(50, 2000)),  # long lines
)
TEXTS = st.lists(PIECES, max_size=40).map("".join)
ENCODING = st.sampled_from(ENCODINGS)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the reference model ---------------------------------------------------------------------------


def ref_lines(text: str) -> list[tuple[str, str]]:
    """(content, terminator) per line."""
    lines: list[tuple[str, str]] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\r" and text[i + 1 : i + 2] == "\n":
            lines.append(("".join(current), "\r\n"))
            current, i = [], i + 2
        elif c in "\r\n":
            lines.append(("".join(current), c))
            current, i = [], i + 1
        else:
            current.append(c)
            i += 1
    lines.append(("".join(current), ""))
    return lines


def units(c: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(c.encode("utf-8"))
    if encoding == "utf-16":
        return 2 if ord(c) > 0xFFFF else 1
    return 1


def ref_offset(text: str, line: int, character: int, encoding: str, strict: bool) -> int:
    lines = ref_lines(text)
    if line >= len(lines):
        if strict:
            raise PositionError("past the end")
        return len(text)
    start = sum(len(c) + len(t) for c, t in lines[:line])
    acc = idx = 0
    for ch in lines[line][0]:
        if acc + units(ch, encoding) > character:
            break
        acc += units(ch, encoding)
        idx += 1
    return start + idx


def ref_position(text: str, offset: int, encoding: str) -> tuple[int, int]:
    start = 0
    for number, (content, term) in enumerate(ref_lines(text)):
        if offset <= start + len(content) + len(term) - (1 if term else 0) or not term:
            col = min(offset - start, len(content))
            return number, sum(units(c, encoding) for c in content[:col])
        start += len(content) + len(term)
    raise AssertionError("unreachable")


# -- properties ------------------------------------------------------------------------------------


@SETTINGS
@given(TEXTS)
def test_lines_end_only_at_the_three_lsp_terminators(text: str) -> None:
    ref = ref_lines(text)
    assert split_lines(text) == [c + t for c, t in ref]
    index = LineIndex(text)
    assert index.line_count == len(ref)
    assert [index.line_text(i) for i in range(index.line_count)] == [c for c, _ in ref]


@SETTINGS
@given(TEXTS, ENCODING, st.data())
def test_position_to_offset_follows_the_clamping_rules(text: str, encoding: str, data: st.DataObject) -> None:
    index = LineIndex(text, encoding)
    line = data.draw(st.integers(0, index.line_count + 1))
    character = data.draw(st.integers(0, 4100))
    for strict in (True, False):
        try:
            expected: int | None = ref_offset(text, line, character, encoding, strict)
        except PositionError:
            expected = None
        if expected is None:
            with pytest.raises(PositionError):
                index.offset_at(line, character, strict=strict)
        else:
            assert index.offset_at(line, character, strict=strict) == expected


@SETTINGS
@given(TEXTS, ENCODING, st.data())
def test_offset_position_round_trip(text: str, encoding: str, data: st.DataObject) -> None:
    index = LineIndex(text, encoding)
    offset = data.draw(st.integers(0, len(text)))
    line, character = index.position_at(offset)
    assert (line, character) == ref_position(text, offset, encoding)
    back = index.offset_at(line, character)
    # an offset inside a \r\n pair means the end of its line; everything else comes back unchanged
    inside_crlf = 0 < offset < len(text) and text[offset - 1 : offset + 1] == "\r\n"
    assert back == (offset - 1 if inside_crlf else offset)
    assert index.position_at(back) == (line, character)


EDITS = st.lists(
    st.tuples(
        st.integers(0, 12), st.integers(0, 60), st.integers(0, 12), st.integers(0, 60),
        st.lists(st.sampled_from(ATOMS), max_size=6).map("".join),
        st.booleans(),
    ),
    min_size=1,
    max_size=25,
)  # fmt: skip


@SETTINGS
@given(TEXTS, ENCODING, EDITS)
def test_incremental_edits_keep_the_text_equal_to_the_model(
    text: str, encoding: str, edits: list[tuple[int, int, int, int, str, bool]]
) -> None:
    doc = Document("file:///t.txt", source=text, version=1, position_codec=PositionCodec(encoding=encoding))
    model = text
    for version, (sl, sc, el, ec, new, full) in enumerate(edits, start=2):
        if full and version % 7 == 0:
            doc.apply_change(types.TextDocumentContentChangeWholeDocument(text=new))
            model = new
        else:
            a = ref_offset(model, sl, sc, encoding, strict=False)
            b = ref_offset(model, el, ec, encoding, strict=False)
            a, b = min(a, b), max(a, b)
            model = model[:a] + new + model[b:]
            rng = types.Range(
                start=types.Position(line=sl, character=sc), end=types.Position(line=el, character=ec)
            )
            doc.apply_change(types.TextDocumentContentChangePartial(range=rng, text=new))
        assert doc.source == model


class CharTokenizer:
    """One token per character: token counts are character counts, so the window is exact."""

    def tokenize(self, text: str, special: bool = False) -> list[int]:
        return [ord(c) for c in text]

    def detokenize(self, tokens: list[int]) -> str:
        return "".join(map(chr, tokens))


@SETTINGS
@given(TEXTS, ENCODING, st.data())
def test_the_prompt_prefix_ends_and_the_range_starts_at_the_requested_position(
    text: str, encoding: str, data: st.DataObject
) -> None:
    doc = Document("file:///t.txt", source=text, version=1, position_codec=PositionCodec(encoding=encoding))
    lines = ref_lines(text)
    line = data.draw(st.integers(0, len(lines) - 1))
    content = lines[line][0]
    # a position at a character boundary of the true text
    col = data.draw(st.integers(0, len(content)))
    character = sum(units(c, encoding) for c in content[:col])
    position = types.Position(line=line, character=character)
    expected = sum(len(c) + len(t) for c, t in lines[:line]) + col

    offset = doc.offset_at_position(position)
    assert offset == expected
    window = build_window(CharTokenizer(), doc.source, offset, 10_000, 10_000)  # type: ignore[arg-type]
    assert window.start + len(window.prefix) == expected
    assert text[:expected].endswith(window.prefix)
    assert text[expected:].startswith(window.suffix)
    assert doc.client_position_at_offset(offset) == position  # where the completion's range starts


def test_a_line_past_the_end_is_invalid_params_and_a_character_past_the_end_is_the_line_end() -> None:
    doc = Document("file:///t.txt", source="ab\r\ncd😀\n", version=1)
    with pytest.raises(JsonRpcInvalidParams, match="line 3"):
        doc.offset_at_position(types.Position(line=3, character=0))
    assert doc.offset_at_position(types.Position(line=0, character=99)) == 2  # before the \r\n
    assert doc.offset_at_position(types.Position(line=1, character=3)) == 6  # inside 😀: its start
    assert doc.offset_at_position(types.Position(line=2, character=0)) == len(doc.source)


def test_the_documented_case_of_an_emoji_on_the_last_line() -> None:
    """Issue 15, 4(a): `offset 15 outside the document (0..11)` at the start of the line after it."""
    text = "x = 1\n# 😀😀\n"
    doc = Document("file:///t.py", source=text, version=1)
    assert doc.offset_at_position(types.Position(line=2, character=0)) == len(text)
