"""A terminal progress bar for downloads (stderr only: stdout may be a JSON-RPC channel)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def _fmt_eta(seconds: float) -> str:
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class TerminalProgress:
    """`progress(done, total)` callable drawing `label  42% [####      ] 700/1650 MB 12 MB/s ETA 1m20s`.

    On a terminal it redraws one line at most 10 times a second; elsewhere (logs, CI) it prints a line
    every 10%. `total` 0 means unknown. Call `finish()` at the end.
    """

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 28) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._t0 = time.monotonic()
        self._last_draw = 0.0
        self._last_decile = -1
        self._first_done: int | None = None
        self._drawn = False
        self.done = 0
        self.total = 0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self._first_done is None:
            self._first_done, self._t0 = done, now
        self.done, self.total = done, total
        if self.tty:
            if now - self._last_draw >= 0.1 or (total and done >= total):
                self._last_draw = now
                self.stream.write("\r" + self.render(now) + "\x1b[K")
                self.stream.flush()
                self._drawn = True
        elif total:
            decile = done * 10 // total
            if decile != self._last_decile:
                self._last_decile = decile
                self.stream.write(self.render(now) + "\n")
                self.stream.flush()

    def render(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        elapsed = max(now - self._t0, 1e-6)
        rate = (self.done - (self._first_done or 0)) / elapsed
        speed = f"{_fmt_bytes(rate)}/s" if rate > 0 else ""
        if self.total:
            frac = min(1.0, self.done / self.total)
            filled = int(frac * self.width)
            bar = "#" * filled + " " * (self.width - filled)
            eta = (
                f"ETA {_fmt_eta((self.total - self.done) / rate)}"
                if rate > 0 and self.done < self.total
                else ""
            )
            parts = [
                self.label,
                f"{frac * 100:3.0f}%",
                f"[{bar}]",
                f"{_fmt_bytes(self.done)}/{_fmt_bytes(self.total)}",
                speed,
                eta,
            ]
        else:
            parts = [self.label, _fmt_bytes(self.done), speed]
        return "  ".join(p for p in parts if p)

    def finish(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
