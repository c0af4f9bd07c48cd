"""The terminal progress bar used by `qwen-ls models download` (stderr, throttled)."""

from __future__ import annotations

import io

from qwen_ls.models.progress import TerminalProgress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_non_terminal_prints_a_line_per_tenth() -> None:
    out = io.StringIO()
    bar = TerminalProgress("model", stream=out)
    for done in range(0, 1001, 10):
        bar(done, 1000)
    bar.finish()
    lines = out.getvalue().splitlines()
    assert len(lines) == 11  # 0%, 10%, ..., 100%
    assert lines[-1].startswith("model  100%  [") and "1.0 KB/1.0 KB" in lines[-1]


def test_terminal_redraws_one_line_and_ends_with_newline() -> None:
    out = Tty()
    bar = TerminalProgress("model", stream=out)
    bar(0, 2_000_000)
    bar(2_000_000, 2_000_000)
    bar.finish()
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert "100%" in text and "2.0 MB/2.0 MB" in text


def test_unknown_total_shows_bytes_only() -> None:
    bar = TerminalProgress("m", stream=io.StringIO())
    bar(1_500_000, 0)
    assert bar.render().startswith("m  1.5 MB")
    assert "%" not in bar.render()
