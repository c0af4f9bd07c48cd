"""`qwen-ls bench postprocess --units PATH`: run-on recovery of decorated declarations in real code.

For every decorated declaration in the source files under PATH (folders, `.zip`, `.tar.gz`; languages
with a grammar), the cursor goes right after the first character of its first decoration (`@`, `[`,
`#[`), as a CrossCodeEval task would place it mid-line. The truth is the rest of the unit: the
decorations and the declaration, up to the opening of its body (`{`, or the Python `:`). The raw
output is the truth followed by the first lines after it, as a model that runs on would write it;
post-processing must give back exactly the truth. Nothing here is tuned on: it is a check on code that
the benchmark rows never saw.
"""

from __future__ import annotations

import tarfile
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qwen_ls import syntax

#: Files read per language, and cases taken per file, so that a big tree stays quick.
MAX_FILES = 400
MAX_PER_FILE = 3


def _sources(path: Path) -> Iterator[tuple[str, str]]:
    """(name, text) of the source files under `path` whose language has a grammar."""

    def wanted(name: str) -> bool:
        return syntax.has_grammar(syntax.language_for_path(name)) and not name.endswith(".d.ts")

    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file() and wanted(p.name):
                yield str(p), p.read_text(encoding="utf-8", errors="replace")
    elif path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            for name in sorted(z.namelist()):
                if wanted(name):
                    yield name, z.read(name).decode("utf-8", errors="replace")
    elif path.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path) as t:
            for member in t:
                if member.isfile() and wanted(member.name):
                    f = t.extractfile(member)
                    if f is not None:
                        yield member.name, f.read().decode("utf-8", errors="replace")


def _body_opening(decl: Any) -> int | None:
    """Byte offset just after the `{` or `:` that opens the declaration's body."""
    body = decl.child_by_field_name("body")
    if body is None:
        return None
    if body.type == "block" and decl.type in ("function_definition", "class_definition"):
        colon = body.prev_sibling
        return colon.end_byte if colon is not None and colon.type == ":" else None
    first = body.child(0)
    return first.end_byte if first is not None and first.type == "{" else None


def _declaration(deco: Any) -> Any | None:
    """The declaration that a decoration node decorates: its parent, or the next declaration."""
    node = deco.parent
    if node is not None and node.type == "modifiers":
        node = node.parent
    if node is not None and node.type == "decorated_definition":
        return node.child_by_field_name("definition")
    if (
        node is not None
        and node.child_by_field_name("body") is not None
        and node.start_byte == deco.start_byte
    ):
        return node
    sibling = deco.next_named_sibling
    while sibling is not None and sibling.type in syntax.DECORATIONS:
        sibling = sibling.next_named_sibling
    return sibling


def unit_cases(text: str, language: str) -> Iterator[tuple[int, int]]:
    """(cursor, end) byte offsets: after the first character of a declaration's first decoration, and
    after the opening of its body."""
    tree = syntax.parse(text, language)
    if tree is None:
        return
    stack = [tree.root_node]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        stack.extend(reversed(node.children))
        if node.type not in syntax.DECORATIONS or node.has_error:
            continue
        prev = node.prev_named_sibling
        if prev is not None and prev.type in syntax.DECORATIONS:
            continue  # not the first decoration of its declaration
        decl = _declaration(node)
        end = None if decl is None or decl.has_error else _body_opening(decl)
        if end is None or end in seen or text.encode("utf-8")[end:].split(b"\n", 1)[0].strip():
            continue  # (a body on the same line is the code right of the cursor, another check)
        seen.add(end)
        yield node.start_byte + 1, end


def unit_recovery(paths: list[Path], lines: int = 3) -> dict[str, Any]:
    from qwen_ls.bench.postprocess_bench import recovered
    from qwen_ls.postprocess import CompletionContext, postprocess

    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    files: dict[str, int] = defaultdict(int)
    failures: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        for name, text in _sources(path):
            language = syntax.language_for_path(name)
            if language is None or files[language] >= MAX_FILES:
                continue
            files[language] += 1
            data = text.encode("utf-8")
            for n, (cursor, end) in enumerate(unit_cases(text, language)):
                if n >= MAX_PER_FILE:
                    break
                prefix = data[:cursor].decode("utf-8", errors="replace")
                truth = data[cursor:end].decode("utf-8", errors="replace")
                suffix = data[end:].decode("utf-8", errors="replace")
                runon = "".join(suffix.splitlines(keepends=True)[:lines])
                got = postprocess(truth + runon, CompletionContext(prefix, suffix, language))
                t = totals[language]
                t[1] += 1
                if recovered(got.text, got.replace_end, truth, suffix):
                    t[0] += 1
                elif len(failures[language]) < 3:
                    failures[language].append(f"{name}@{cursor}")
    return {
        language: {
            "recovered": ok,
            "total": total,
            "rate": round(100.0 * ok / total, 2),
            "files": files[language],
            "first_failures": failures[language],
        }
        for language, (ok, total) in sorted(totals.items())
        if total
    }
