"""Post-processing: raw Qwen2.5-Coder output in, the text the user meant out.

A pipeline of small pure filters, one per module: special tokens (`special`), single vs multi-line
(`mode`), the rest of the line when code is right of the cursor (`right_text`), the end of the
statement (`statement`), indentation scope (`indentation`), brackets against the suffix (`brackets`),
overlap with the following lines (`suffix_overlap`), loops (`repetition`) and tree-sitter truncation
(`syntax_trim`). `cursor` describes the text around the cursor once per request, `lexer` tracks
brackets, strings and comments, and `pipeline` runs the filters in order. `StreamStopper` applies the
cheap ones as tokens stream in so generation stops as soon as the completion is complete;
`postprocess` applies all of them to the final text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from qwen_ls.postprocess import mode as _mode
from qwen_ls.postprocess.cursor import Cursor, cursor_from, indent_width
from qwen_ls.postprocess.pipeline import run, structural_cut
from qwen_ls.postprocess.special import strip_special
from qwen_ls.postprocess.syntax_trim import EXTEND_LINES, DocSyntax

__all__ = [
    "CompletionContext",
    "PostprocessSettings",
    "Processed",
    "StreamStopper",
    "decide_mode",
    "postprocess",
]


@dataclass(frozen=True)
class PostprocessSettings:
    """User knobs (JSON: `mode`, `maxLines`, `syntaxAware`)."""

    #: "auto" decides from the syntax at the cursor; "single" / "multi" force one line / a block.
    mode: Literal["auto", "single", "multi"] = "auto"
    #: Most lines a block completion may have; 0 means no limit beyond the block's own end.
    max_lines: int = 0
    #: Cut block completions where they stop parsing (tree-sitter), for languages with a grammar.
    syntax_aware: bool = True

    def validate(self) -> list[str]:
        problems = []
        if self.max_lines < 0:
            problems.append("maxLines must be 0 (no limit) or more")
        return problems


@dataclass(frozen=True)
class CompletionContext:
    prefix: str
    """Full document text before the cursor."""
    suffix: str
    """Full document text after the cursor."""
    language: str | None
    """Normalized language id (`qwen_ls.syntax.normalize_language`)."""
    mode: Literal["auto", "single", "multi"] = "auto"
    max_lines: int = 0
    syntax_aware: bool = True

    @classmethod
    def from_settings(
        cls, prefix: str, suffix: str, language: str | None, settings: PostprocessSettings
    ) -> CompletionContext:
        return cls(prefix, suffix, language, settings.mode, settings.max_lines, settings.syntax_aware)


@dataclass(frozen=True)
class Processed:
    text: str
    """Text to insert at the cursor; "" means show nothing."""
    replace_end: int = 0
    """Characters of the suffix (from the cursor) that the completion's range covers."""
    reason: str = ""
    """When text is "": why (a short slug for metrics). Otherwise which filter cut last, or ""."""
    multiline: bool = False


def decide_mode(ctx: CompletionContext) -> Literal["single", "multi"]:
    return _mode.decide(cursor_from(ctx), ctx.mode)


#: Why a completion came out empty, by the filter that cut it to nothing.
_EMPTY_REASONS = {
    "suffix-overlap": "repeats-suffix",
    "right-text": "repeats-suffix",
    "statement": "ends-at-cursor",
    "brackets": "closes-at-cursor",
    "indentation": "leaves-block",
}


def _process(raw: str, ctx: CompletionContext, cursor: Cursor, doc: DocSyntax | None = None) -> Processed:
    mode = _mode.decide(cursor, ctx.mode)
    multiline = mode == "multi"
    text, _ = strip_special(raw)
    if not text:
        return Processed("", reason="empty", multiline=multiline)
    if not text.strip():
        return Processed("", reason="whitespace", multiline=multiline)
    if doc is None:
        doc = DocSyntax(ctx.prefix, ctx.suffix, ctx.language)
    cut = run(text, cursor, mode, doc, syntax_aware=ctx.syntax_aware, max_lines=ctx.max_lines)
    if not cut.text.strip():
        reason = _EMPTY_REASONS.get(cut.by, "whitespace")
        if cut.by == "right-text" and not text.split("\n", 1)[0].strip():
            reason = "ends-at-cursor"
        return Processed("", reason=reason, multiline=multiline)
    return Processed(cut.text, cut.replace_end, cut.by, multiline)


def postprocess(raw: str, ctx: CompletionContext) -> Processed:
    """The final pass over the whole raw text."""
    return _process(raw, ctx, cursor_from(ctx))


class StreamStopper:
    """Says when a streamed completion is complete, so generation can stop.

    `feed` gets the whole raw text generated so far after each token. The surroundings of the cursor
    are analysed once here; per token it only looks for special tokens and new line ends, and runs the
    line-based filters when a line is complete. Syntax work happens at most once per line end, and only
    when a statement ends while the document still has syntax errors (its next lines may be the closing
    lines the code after the cursor lacks: see `syntax_trim.syntax_extend`).
    """

    def __init__(self, ctx: CompletionContext) -> None:
        self.ctx = ctx
        self.cursor = cursor_from(ctx)
        self.mode = _mode.decide(self.cursor, ctx.mode)
        self.doc = DocSyntax(ctx.prefix, ctx.suffix, ctx.language)
        self._checked_lines = 0
        self._statement_end: int | None = None
        self.done = False

    def feed(self, text: str) -> bool:
        """False as soon as the completion is complete (stop generating)."""
        if self.done:
            return False
        clean, stopped = strip_special(text, final=False)
        if stopped:
            self.done = True
            return False
        newlines = clean.count("\n")
        if newlines == self._checked_lines:
            return True
        self._checked_lines = newlines
        complete_part = clean[: clean.rfind("\n") + 1]
        if self._statement_end is not None:
            self.done = not self._extending(complete_part)
            return not self.done
        cut = structural_cut(complete_part, self.cursor, self.mode, final=False, max_lines=self.ctx.max_lines)
        if not cut.complete:
            return True
        if cut.by == "statement" and self._may_extend(cut.text):
            self._statement_end = len(cut.text)
            self.done = not self._extending(complete_part)
            return not self.done
        self.done = True
        return False

    def _may_extend(self, statement: str) -> bool:
        return (
            self.ctx.syntax_aware
            and self.mode == "single"
            and self.cursor.line_has_code
            and self.doc.available
            and self.doc.errors(statement) > 0
        )

    def _extending(self, complete_part: str) -> bool:
        """Whether the lines after the statement may still be closing lines worth generating."""
        assert self._statement_end is not None
        extra = [line for line in complete_part[self._statement_end :].split("\n") if line.strip()]
        if not extra:
            return True
        if len(extra) > EXTEND_LINES:
            return False
        if indent_width(extra[-1]) >= indent_width(self.cursor.line_prefix):
            return False
        return self.doc.errors(complete_part.rstrip("\n")) > 0

    def finish(self, text: str) -> Processed:
        """The final pass, reusing the analysis of the cursor and the parsed document."""
        return _process(text, self.ctx, self.cursor, self.doc)
