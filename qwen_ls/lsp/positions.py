"""LSP positions <-> offsets into a document's text, in the negotiated position encoding.

Every feature converts positions here and nowhere else. Offsets are Python `str` indices (code points).

The rules, written once (LSP 3.17, "Text Documents" and "Position"):

- A line ends at `\\n`, `\\r\\n` or `\\r`, and nowhere else. U+2028, U+2029, U+0085, form feed, vertical
  tab and `\\x1c`-`\\x1e` are ordinary characters (`str.splitlines` would split on them and shift every
  position after them).
- `character` counts code units of the negotiated encoding: UTF-16 (the default, always supported),
  UTF-8 bytes or UTF-32 code points (when the client offers them in `general.positionEncodings`).
- Clamping:
  * a character past the end of a line means the end of that line (before its terminator), as LSP says;
  * a character inside a code point (between the two halves of a UTF-16 surrogate pair, inside a UTF-8
    sequence) means the start of that code point;
  * a line past the last line of the document: for a request (`strict=True`) the position is invalid
    (`PositionError`, answered `InvalidParams`): the client and the server disagree about the document,
    and completing at "the end" instead would offer text for the wrong place. For an edit
    (`textDocument/didChange`, `strict=False`) it means the end of the document, as the reference
    implementation (vscode-languageserver-textdocument) does: a notification cannot be answered, and
    the buffer must keep following the client;
  * a negative line or character is invalid (LSP's `uinteger`; the message layer rejects it first).
"""

from __future__ import annotations

import bisect
import re

UTF8 = "utf-8"
UTF16 = "utf-16"
UTF32 = "utf-32"
ENCODINGS = (UTF16, UTF8, UTF32)

_EOL = re.compile(r"\r\n|\r|\n")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


class PositionError(ValueError):
    """A position that names no place in the document (answered as JSON-RPC InvalidParams)."""


def split_lines(text: str) -> list[str]:
    """The document's lines with their terminators kept (LSP terminators only); never empty."""
    starts = line_starts(text)
    ends = [*starts[1:], len(text)]
    return [text[a:b] for a, b in zip(starts, ends, strict=True)]


def line_starts(text: str) -> list[int]:
    """Offset of the first character of every line; a text of n terminators has n + 1 lines."""
    if "\r" not in text:  # the common case, without a Python step per character
        starts = [0]
        i = text.find("\n")
        while i != -1:
            starts.append(i + 1)
            i = text.find("\n", i + 1)
        return starts
    return [0, *(m.end() for m in _EOL.finditer(text))]


def code_units(text: str, encoding: str = UTF16) -> int:
    """Length of `text` in code units of `encoding`."""
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text) + len(_ASTRAL.findall(text))


def _units_to_index(line: str, units: int, encoding: str) -> int:
    """Code-point index of `units` code units into `line` (clamped to the line, rounded down)."""
    if units >= len(line) and (encoding == UTF32 or line.isascii()):
        return len(line)
    if encoding == UTF32 or line.isascii():
        return units
    if encoding == UTF8:
        data = line.encode("utf-8", "surrogatepass")
        if units >= len(data):
            return len(line)
        while units > 0 and 0x80 <= data[units] < 0xC0:  # inside a sequence: back to its first byte
            units -= 1
        return len(data[:units].decode("utf-8", "surrogatepass"))
    shift = 0  # UTF-16: one extra unit per astral character before the target
    for m in _ASTRAL.finditer(line):
        first_unit = m.start() + shift
        if first_unit >= units:
            break
        if first_unit + 2 > units:  # between the two halves of a surrogate pair
            return m.start()
        shift += 1
    return min(units - shift, len(line))


class LineIndex:
    """A text with its line starts, for conversions in one encoding. Treated as immutable: an edit
    makes a new one (`replace`); line starts and the ASCII check are computed once, when first needed."""

    __slots__ = ("_ascii", "_starts", "encoding", "text")

    def __init__(self, text: str, encoding: str = UTF16) -> None:
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown position encoding {encoding!r}")
        self.text = text
        self.encoding = encoding
        self._starts: list[int] | None = None
        self._ascii: bool | None = None

    @property
    def starts(self) -> list[int]:
        if self._starts is None:
            self._starts = line_starts(self.text)
        return self._starts

    @property
    def is_ascii(self) -> bool:
        if self._ascii is None:
            self._ascii = self.text.isascii()
        return self._ascii

    @property
    def line_count(self) -> int:
        return len(self.starts)

    def line_end(self, line: int) -> int:
        """Offset just past the last character of `line`, before its terminator."""
        starts = self.starts
        if line + 1 >= len(starts):
            return len(self.text)
        end = starts[line + 1]
        crlf = end - 2 >= starts[line] and self.text[end - 2 : end] == "\r\n"
        return end - 2 if crlf else end - 1

    def line_text(self, line: int) -> str:
        """The text of `line` without its terminator."""
        return self.text[self.starts[line] : self.line_end(line)]

    def offset_at(self, line: int, character: int, *, strict: bool = True) -> int:
        """The offset of an LSP position, by the clamping rules in the module docstring."""
        if line < 0 or character < 0:
            raise PositionError(f"position {line}:{character} is negative")
        if line >= self.line_count:
            if strict:
                raise PositionError(f"line {line} is past the end of the document ({self.line_count} lines)")
            return len(self.text)
        start, end = self.starts[line], self.line_end(line)
        if self.is_ascii or self.encoding == UTF32:
            return min(start + character, end)
        return start + _units_to_index(self.text[start:end], character, self.encoding)

    def position_at(self, offset: int) -> tuple[int, int]:
        """The LSP (line, character) of an offset; an offset inside a `\\r\\n` means the end of its line."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        start = self.starts[line]
        col = min(offset, self.line_end(line)) - start
        if self.is_ascii or self.encoding == UTF32:
            return line, col
        return line, code_units(self.text[start : start + col], self.encoding)

    def line_units(self, line: int) -> int:
        """Length of `line` (without its terminator) in code units."""
        if self.is_ascii or self.encoding == UTF32:
            return self.line_end(line) - self.starts[line]
        return code_units(self.line_text(line), self.encoding)

    def replace(self, start: tuple[int, int] | None, end: tuple[int, int] | None, new_text: str) -> LineIndex:
        """The text after an LSP edit (`None` range: the whole text); edits follow `strict=False`."""
        if start is None or end is None:
            return LineIndex(new_text, self.encoding)
        a = self.offset_at(*start, strict=False)
        b = self.offset_at(*end, strict=False)
        if b < a:  # a reversed range: LSP ranges are ordered; take it as the same span
            a, b = b, a
        return LineIndex(self.text[:a] + new_text + self.text[b:], self.encoding)
