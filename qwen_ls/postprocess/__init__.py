"""Post-processing: raw Qwen2.5-Coder output in, the text the user meant out.

A pipeline of small pure filters, one per module: special tokens (`special`), single vs multi-line
(`mode`), the rest of the line when code is right of the cursor (`right_text`), the end of the
statement (`statement`), which the syntax tree may carry on to where the unit really ends (`unit`:
past decorating lines, open JSX tags, template literals), indentation scope (`indentation`), brackets
against the suffix (`brackets`), overlap with the following lines (`suffix_overlap`), loops
(`repetition`) and tree-sitter truncation (`syntax_trim`). `cursor` describes the text around the cursor
once per request, `lexer` tracks brackets, strings and comments, `pipeline` runs the filters in order,
and `rules` switches single rules off for `qwen-ls bench postprocess --folds`. `StreamStopper` applies the
cheap ones as tokens stream in so generation stops as soon as the completion is complete;
`postprocess` applies all of them to the final text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from qwen_ls.postprocess import mode as _mode
from qwen_ls.postprocess.cursor import Cursor, cursor_from, indent_width
from qwen_ls.postprocess.pipeline import run, structural_cut, unit_rule
from qwen_ls.postprocess.rules import ALL_ON, Rules
from qwen_ls.postprocess.settings import PostprocessSettings
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
class CompletionContext:
    prefix: str
    """Full document text before the cursor."""
    suffix: str
    """Full document text after the cursor."""
    language: str | None
    """Normalized language id (`qwen_ls.syntax.normalize_language`)."""
    settings: PostprocessSettings = field(default_factory=PostprocessSettings)
    """The user's post-processing settings (the filters read them from here)."""
    rules: Rules = ALL_ON
    """Which rules run (all of them, except in `qwen-ls bench postprocess --folds`)."""

    @classmethod
    def from_settings(
        cls, prefix: str, suffix: str, language: str | None, settings: PostprocessSettings
    ) -> CompletionContext:
        return cls(prefix, suffix, language, settings)


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
    return _mode.decide(cursor_from(ctx), ctx.settings.mode)


#: Why a completion came out empty, by the filter that cut it to nothing.
_EMPTY_REASONS = {
    "suffix-overlap": "repeats-suffix",
    "right-text": "repeats-suffix",
    "statement": "ends-at-cursor",
    "brackets": "closes-at-cursor",
    "indentation": "leaves-block",
}


def _process(raw: str, ctx: CompletionContext, cursor: Cursor, doc: DocSyntax | None = None) -> Processed:
    mode = _mode.decide(cursor, ctx.settings.mode)
    multiline = mode == "multi"
    text, _ = strip_special(raw)
    if not text:
        return Processed("", reason="empty", multiline=multiline)
    if not text.strip():
        return Processed("", reason="whitespace", multiline=multiline)
    if doc is None:
        doc = DocSyntax(ctx.prefix, ctx.suffix, ctx.language)
    cut = run(text, cursor, mode, doc, ctx.settings, ctx.rules)
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
        self.mode = _mode.decide(self.cursor, ctx.settings.mode)
        self.doc = DocSyntax(ctx.prefix, ctx.suffix, ctx.language)
        self._checked_lines = 0
        self._statement_end: int | None = None
        self._unit = unit_rule(self.doc, self.cursor, self.mode, ctx.settings, ctx.rules)
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
        cut = structural_cut(
            complete_part,
            self.cursor,
            self.mode,
            self.ctx.settings,
            final=False,
            unit=self._unit,
            rules=self.ctx.rules,
        )
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
            self.ctx.settings.syntax_aware
            and self.ctx.rules.syntax_extend
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
