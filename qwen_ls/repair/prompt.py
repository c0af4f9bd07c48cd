"""What the model is asked: ChatML messages for an Instruct model, or a fill-in-the-middle rewrite
of the region for the completion model when no Instruct model is configured.

The Instruct prompt shows the diagnostics, read-only lines around the region, the region with line
numbers, and any context snippets, and asks for the corrected region only, in one fenced block. The
engine applies the GGUF's own chat template; `build_chatml_prompt` is the fallback text form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qwen_ls import qwen
from qwen_ls.repair.data import Diagnostic, Region
from qwen_ls.repair.text import split_lines, strip_eol

SYSTEM_PROMPT = (
    "You are an expert programmer who repairs code. You are given diagnostics reported for a file and "
    "the region of the file they point at. Fix the reported problems with the smallest change that is "
    "correct; keep everything else in the region exactly as it is (names, comments, formatting, "
    "indentation). Reply with the corrected region only: every line of the region, without the line "
    "numbers, in a single fenced code block, and nothing after it."
)

#: Fence language tags, where the LSP languageId differs from what models saw in Markdown.
_FENCE = {"typescriptreact": "tsx", "javascriptreact": "jsx", "shellscript": "sh", "csharp": "csharp"}

#: Line-comment leaders, for the FIM hint line.
_LINE_COMMENT = {
    "python": "#",
    "shellscript": "#",
    "ruby": "#",
    "lua": "--",
}


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


def fence_tag(language: str | None) -> str:
    return _FENCE.get(language or "", language or "")


def numbered(lines: Sequence[str], first_line: int) -> str:
    """Lines with 1-based numbers in front (`  12| code`), the form the diagnostics refer to."""
    width = len(str(first_line + len(lines)))
    out = []
    for i, line in enumerate(lines):
        content = strip_eol(line)
        number = f"{first_line + i + 1:>{width}}|"
        out.append(f"{number} {content}" if content.strip() else number)
    return "\n".join(out)


def describe(diagnostic: Diagnostic) -> str:
    where = f"line {diagnostic.start_line + 1}"
    if diagnostic.end_line > diagnostic.start_line:
        where += f"-{diagnostic.end_line + 1}"
    return f"- {where}: {diagnostic.label()}"


def build_messages(
    text: str,
    region: Region,
    language: str | None,
    path: str | None = None,
    surrounding_lines: int = 20,
    snippets: Sequence[str] = (),
    diagnostics: Sequence[Diagnostic] | None = None,
) -> list[ChatMessage]:
    """System and user messages asking for the corrected region."""
    lines = split_lines(text)
    diags = list(diagnostics if diagnostics is not None else region.diagnostics)
    tag = fence_tag(language)
    parts: list[str] = []
    name = path or "the file"
    parts.append(f"File: {name}" + (f" ({language})" if language else ""))
    parts.append("Diagnostics:\n" + "\n".join(describe(d) for d in diags))
    if snippets:
        parts.append(
            "Relevant code from elsewhere in the project (read-only):\n"
            + "\n".join(f"```{tag}\n{s.rstrip()}\n```" for s in snippets if s.strip())
        )
    before_first = max(0, region.start_line - surrounding_lines)
    after_last = min(len(lines) - 1, region.end_line + surrounding_lines)
    if region.start_line > before_first:
        parts.append(
            "Code before the region (read-only):\n"
            f"```{tag}\n{numbered(lines[before_first : region.start_line], before_first)}\n```"
        )
    region_lines = lines[region.start_line : region.end_line + 1]
    parts.append(
        f"Region to fix, lines {region.start_line + 1}-{region.end_line + 1}:\n"
        f"```{tag}\n{numbered(region_lines, region.start_line)}\n```"
    )
    if after_last > region.end_line:
        parts.append(
            "Code after the region (read-only):\n"
            f"```{tag}\n{numbered(lines[region.end_line + 1 : after_last + 1], region.end_line + 1)}\n```"
        )
    parts.append(
        f"Rewrite lines {region.start_line + 1}-{region.end_line + 1} so that the diagnostics are fixed. "
        f"Answer with the corrected lines only, without line numbers, in one ```{tag} block."
    )
    return [ChatMessage("system", SYSTEM_PROMPT), ChatMessage("user", "\n\n".join(parts))]


def retry_messages(messages: Sequence[ChatMessage], answer: str, reason: str) -> list[ChatMessage]:
    """The conversation so far plus the rejected answer and why, for another attempt."""
    return [
        *messages,
        ChatMessage("assistant", answer.strip()),
        ChatMessage(
            "user",
            f"That fix was rejected: {reason}. Try again: answer with the whole corrected region only, "
            "in one fenced code block.",
        ),
    ]


def build_chatml_prompt(messages: Sequence[ChatMessage]) -> str:
    """ChatML text ending with an open assistant turn: the fallback when a GGUF has no chat template."""
    out = [f"{qwen.IM_START}{m.role}\n{m.content}{qwen.IM_END}\n" for m in messages]
    out.append(f"{qwen.IM_START}assistant\n")
    return "".join(out)


@dataclass(frozen=True)
class FimRewrite:
    """A fill-in-the-middle request that regenerates the region with the completion model.

    The engine builds `<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>` from it (with the
    repo-level form when it has context). `original` is the region being replaced, for extraction.
    """

    prefix: str
    suffix: str
    original: str
    max_tokens: int


def comment_leader(language: str | None) -> str:
    return _LINE_COMMENT.get(language or "", "//")


def build_fim_rewrite(
    text: str,
    region: Region,
    language: str | None,
    max_tokens: int,
    hint: bool = True,
    surrounding_chars: int = 6000,
) -> FimRewrite:
    """Prefix/suffix around the region. With `hint`, a comment naming the problem ends the prefix
    (indented like the region's first line): a base model cannot read a diagnostic any other way."""
    prefix = text[max(0, region.start - surrounding_chars) : region.start]
    suffix = text[region.end : region.end + surrounding_chars]
    original = text[region.start : region.end]
    if hint and region.diagnostics:
        first = split_lines(original)[0]
        indent = first[: len(first) - len(first.lstrip(" \t"))]
        leader = comment_leader(language)
        notes = "; ".join(d.short_message(80) for d in region.diagnostics)
        prefix += f"{indent}{leader} fixed: {notes}\n"
    return FimRewrite(prefix=prefix, suffix=suffix, original=original, max_tokens=max_tokens)
