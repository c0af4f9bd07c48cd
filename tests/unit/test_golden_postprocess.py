"""Golden cases for post-processing: tests/golden/postprocess/<language>/<case>.txt.

Format (one case per file):

    # free comments
    language: python          (an LSP languageId)
    mode: auto                (optional: auto, single, multi)
    reason: repeats-suffix    (optional: the reason when nothing is shown)
    === document
    the document, with █ where the cursor is
    === raw
    the raw model output (special tokens written as text)
    === expected
    the document after accepting the completion, the inserted text between « and »

Each section's text runs up to the newline before the next `===` line (or the file's last newline),
so a text that ends with a newline is followed by an empty line. `«»` in the expected document means
nothing is shown. Text right of » that differs from the document's suffix is what the completion's
range covered: the expected suffix must be the document's suffix minus `replace_end` leading
characters. The stream stopper is also checked: fed the raw text a few characters at a time, where it
stops, the final pass over what was streamed gives the same completion as over the whole raw text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from qwen_ls.postprocess import CompletionContext, PostprocessSettings, StreamStopper, postprocess
from qwen_ls.syntax import normalize_language

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "postprocess"
CURSOR = "█"


@dataclass
class Case:
    name: str
    language: str | None
    mode: str
    reason: str
    prefix: str
    suffix: str
    raw: str
    expected_text: str
    expected_suffix: str


def parse_case(path: Path) -> Case:
    headers: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    content = path.read_text(encoding="utf-8")
    content = content[:-1] if content.endswith("\n") else content  # the file's own last newline
    for line in content.split("\n"):
        if line.startswith("=== "):
            current = sections.setdefault(line[4:].strip(), [])
            continue
        if current is None:
            if line.startswith("#") or not line.strip():
                continue
            key, _, value = line.partition(":")
            headers[key.strip()] = value.strip()
            continue
        current.append(line)
    texts = {k: "\n".join(v) for k, v in sections.items()}
    document, raw, expected = texts["document"], texts["raw"], texts["expected"]
    assert document.count(CURSOR) == 1, f"{path}: one {CURSOR} expected in the document"
    prefix, suffix = document.split(CURSOR)
    if "«" in expected:
        before, rest = expected.split("«", 1)
        text, after = rest.split("»", 1)
        assert before == prefix, f"{path}: the expected document must start with the document's prefix"
    else:
        text, after = "", expected.replace(CURSOR, "")[len(prefix) :]
    return Case(
        name=f"{path.parent.name}/{path.stem}",
        language=normalize_language(headers.get("language")),
        mode=headers.get("mode", "auto"),
        reason=headers.get("reason", ""),
        prefix=prefix,
        suffix=suffix,
        raw=raw,
        expected_text=text,
        expected_suffix=after,
    )


CASES = sorted(GOLDEN.glob("*/*.txt"))


def test_there_are_enough_golden_cases() -> None:
    assert len(CASES) >= 100
    languages = {p.parent.name for p in CASES}
    assert {
        "python",
        "javascript",
        "typescript",
        "typescriptreact",
        "go",
        "rust",
        "java",
        "c",
        "cpp",
    } <= languages
    assert "csharp" in languages


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden(path: Path) -> None:
    case = parse_case(path)
    settings = PostprocessSettings(mode=case.mode)  # type: ignore[arg-type]
    ctx = CompletionContext(case.prefix, case.suffix, case.language, settings)
    got = postprocess(case.raw, ctx)
    assert got.text == case.expected_text, f"reason={got.reason!r}"
    assert case.suffix[got.replace_end :] == case.expected_suffix, f"replace_end={got.replace_end}"
    if case.reason:
        assert got.reason == case.reason
    if not case.expected_text:
        assert got.reason, "an empty completion must say why"


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_stream_stops_after_what_is_kept(path: Path) -> None:
    """Streaming the raw text in small pieces, the stopper never stops before the kept text is out,
    and the final pass over what was streamed until then gives the same completion."""
    case = parse_case(path)
    settings = PostprocessSettings(mode=case.mode)  # type: ignore[arg-type]
    ctx = CompletionContext(case.prefix, case.suffix, case.language, settings)
    stopper = StreamStopper(ctx)
    streamed = case.raw
    for end in range(1, len(case.raw) + 1, 3):
        if not stopper.feed(case.raw[:end]):
            streamed = case.raw[:end]
            break
    final = stopper.finish(streamed)
    whole = postprocess(case.raw, ctx)
    assert (final.text, final.replace_end) == (whole.text, whole.replace_end)
