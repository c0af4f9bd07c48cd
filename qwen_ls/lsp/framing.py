"""The base protocol's framing (`Content-Length` header block, then the body), read so that a broken frame
never leaves the server deaf.

pygls's reader waits for a header line it can match and loses its place for good on anything else:
after a header block without `Content-Length`, with a non-numeric one, or with a length that does not
match the body, no later message was ever answered. This reader resynchronises instead:

- header lines may end in `\\r\\n` or a bare `\\n`; names are case-insensitive; blank lines between
  messages are skipped;
- a header block without a usable `Content-Length` is reported as a broken frame, and reading goes on
  at the next `Content-Length:` in the stream (the bytes in between are kept, bounded, as `skipped`, so
  the caller can still answer a request it finds there);
- a `Content-Length` larger than the body is noticed when the next header shows up inside the declared
  body: a JSON body can never hold `Content-Length: <digits>` followed by a raw line break (raw line
  breaks cannot appear inside JSON strings, and the words cannot appear outside them), so the body ends
  there. A body that ends with the first bytes of such a header gives those bytes back the same way;
- a `Content-Length` smaller than the body yields a body that will not parse (answered by the caller);
  the rest is skipped up to the next header.

Nothing here is asynchronous: `FrameReader` pulls bytes from a blocking `read` callable, so it can be
tested with a list of chunks and run on a reader thread by the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

#: a header block longer than this is not a header block
MAX_HEADER_BYTES = 8192
#: bodies larger than this are refused (a 20 MB file is far below it)
MAX_BODY_BYTES = 512 * 1024 * 1024
#: how much of the bytes skipped while resynchronising is kept for the caller
MAX_SKIPPED_BYTES = 1 << 20

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_NEXT_HEADER = re.compile(rb"(?i)content-length:")
_HEADER_IN_BODY = re.compile(rb"(?i)content-length:[ \t]*\d+[ \t]*\r?\n")
_HEADER_NAME = b"content-length:"
_READ_SIZE = 1 << 16


@dataclass(frozen=True)
class Frame:
    """One message body, or a broken frame (`problem` says why; `body` is None when none was found)."""

    body: bytes | None
    problem: str | None = None
    #: bytes passed over while looking for the next header (bounded); may hold a whole request
    skipped: bytes = b""


def _header_tail(body: bytes) -> int:
    """How many bytes at the end of `body` are the start of a `Content-Length` header line (else 0)."""
    low = body[-40:].lower()
    for k in range(len(low), 0, -1):
        tail = low[-k:]
        if len(tail) <= len(_HEADER_NAME):
            ok = _HEADER_NAME.startswith(tail)
        else:
            ok = tail.startswith(_HEADER_NAME) and re.fullmatch(rb"[ \t]*\d*[ \t]*\r?", tail[15:]) is not None
        if ok and body[:-k].rstrip().endswith((b"}", b"]")):
            return k
    return 0


class FrameReader:
    """Frames from a byte stream; `next_frame()` returns None at the end of the stream."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self._buf = bytearray()
        self._eof = False

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._read(_READ_SIZE)
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def next_frame(self) -> Frame | None:
        while True:
            # blank lines between messages are noise, not a header block
            while self._buf[:1] in (b"\r", b"\n"):
                del self._buf[:1]
            if not self._buf and not self._fill():
                return None
            if self._buf[:1] in (b"\r", b"\n"):
                continue
            m = _HEADER_END.search(self._buf, 0, MAX_HEADER_BYTES + 4)
            if m is None:
                if len(self._buf) > MAX_HEADER_BYTES:
                    return self._resync("a header block longer than 8 KiB")
                if not self._fill():
                    return None if not self._buf.strip() else Frame(None, "the stream ended inside a header")
                continue
            length, problem, malformed = _content_length(bytes(self._buf[: m.start()]))
            if length is None:
                # a block of well-formed headers is skipped whole; a malformed one may hide the next
                # header inside its first line (the rest of a body that was cut short)
                return self._resync(problem or "no Content-Length header", 1 if malformed else m.end())
            del self._buf[: m.end()]
            return self._body(length)

    def _body(self, length: int) -> Frame:
        scanned = 0
        while True:
            end = min(length, len(self._buf))
            hit = _HEADER_IN_BODY.search(self._buf, max(0, scanned - 64), end)
            if hit is not None:
                body = bytes(self._buf[: hit.start()])
                del self._buf[: hit.start()]
                return Frame(body, f"Content-Length {length} is larger than the body ({len(body)} bytes)")
            scanned = end
            if len(self._buf) >= length:
                body = bytes(self._buf[:length])
                cut = _header_tail(body)
                if cut:
                    body = body[:-cut]
                    del self._buf[: len(body)]
                    return Frame(body, f"Content-Length {length} is larger than the body ({len(body)} bytes)")
                # a copy of the rest, not `del`: the buffer would keep the capacity of a 20 MB body
                self._buf = bytearray(self._buf[length:])
                return Frame(body)
            if not self._fill():
                body = bytes(self._buf)
                self._buf.clear()
                return Frame(body, f"the stream ended {length - len(body)} bytes into a body")

    def _resync(self, problem: str, start: int = 1) -> Frame:
        """Skip to the next `Content-Length:` at or after `start` (or to the end of the stream)."""
        skipped = bytearray()
        while True:
            m = _NEXT_HEADER.search(self._buf, start)
            if m is not None:
                skipped += self._buf[: m.start()]
                del self._buf[: m.start()]
                break
            start = 0
            keep = len(_HEADER_NAME)
            if len(self._buf) > keep:
                skipped += self._buf[:-keep]
                del self._buf[:-keep]
            if len(skipped) > MAX_SKIPPED_BYTES:
                del skipped[MAX_SKIPPED_BYTES:]
            if not self._fill():
                skipped += self._buf
                self._buf.clear()
                break
        return Frame(None, problem, bytes(skipped[:MAX_SKIPPED_BYTES]))


def _content_length(block: bytes) -> tuple[int | None, str | None, bool]:
    """(the Content-Length of a header block, or None and why not; whether a line was malformed)."""
    values: set[int] = set()
    for raw in re.split(rb"\r?\n", block):
        name, sep, value = raw.partition(b":")
        name = name.strip().lower()
        if not sep or not name or not re.fullmatch(rb"[!#-'*+.^_`|~0-9a-z-]+", name):
            return None, f"a malformed header line {bytes(raw[:60])!r}", True
        if name == b"content-length":
            text = value.strip()
            if not text.isdigit():
                return None, f"a non-numeric Content-Length {bytes(text[:30])!r}", False
            values.add(int(text))
    if not values:
        return None, "no Content-Length header", False
    if len(values) > 1:
        return None, "conflicting Content-Length headers", False
    length = values.pop()
    if length > MAX_BODY_BYTES:
        return None, f"a Content-Length of {length} bytes", False
    return length, None, False
