"""File outlines: the headers of a file's definitions with their bodies elided, in source order."""

from __future__ import annotations

from qwen_ls import syntax
from qwen_ls.context.symbols import Definition

_BRACES = {"javascript", "typescript", "go", "rust", "java", "csharp", "c", "cpp"}


def _header(lines: list[str], d: Definition, max_lines: int = 4) -> list[str]:
    """The header lines of a definition (signature without its body)."""
    if d.body_col < 0:
        first = lines[d.start_line] if d.start_line < len(lines) else ""
        return [first[:160].rstrip()]
    end = min(d.body_line, d.start_line + max_lines - 1)
    out = [lines[i] for i in range(d.start_line, min(end + 1, len(lines)))]
    if out and end == d.body_line:
        out[-1] = out[-1][: d.body_col] if d.body_line != d.start_line or d.body_col > 0 else out[-1]
    # comments between the signature and the first statement are not part of the header
    out = [out[0].rstrip()] + [
        line.rstrip() for line in out[1:] if not line.lstrip().startswith(("#", "//", "/*", "* ", "*/"))
    ]
    while out and not out[-1].strip():
        out.pop()
    return out


def outline(
    text: str, defs: list[Definition], language: str | None, only: set[int] | None = None
) -> list[tuple[int, str]]:
    """A skeleton of the file: (0-based source line, text) pairs of definition headers, bodies elided.

    `only` limits it to the given definition indices (their containers' headers are kept for context).
    """
    lines = text.split("\n")
    fam = syntax.family(language)
    brace = fam in _BRACES
    out: list[tuple[int, str]] = []
    seen: set[int] = set()
    open_containers: list[tuple[int, int, str]] = []  # (end_line, source line, indent) for brace closing
    keep = set(range(len(defs))) if only is None else set(only)
    if only is not None:
        # keep the containers of kept members
        for i in list(keep):
            d = defs[i]
            for j, c in enumerate(defs):
                if (
                    c.kind in ("class", "module", "type", "impl")
                    and c.start_line <= d.start_line
                    and c.end_line >= d.end_line
                ):
                    keep.add(j)
    for i, d in enumerate(defs):
        while open_containers and d.start_line > open_containers[-1][0]:
            end, _, indent = open_containers.pop()
            if brace:
                out.append((end, indent + "}"))
        if i not in keep or d.start_line in seen:
            continue
        head = _header(lines, d)
        if not head:
            continue
        is_container = d.kind in ("class", "module", "impl") or (d.kind == "type" and d.body_col >= 0)
        has_members = is_container and any(
            c.start_line > d.start_line and c.end_line <= d.end_line for c in defs[i + 1 : i + 2]
        )
        src_line = lines[d.start_line] if d.start_line < len(lines) else ""
        indent = src_line[: len(src_line) - len(src_line.lstrip())]
        for k, h in enumerate(head):
            seen.add(d.start_line + k)
            out.append((d.start_line + k, h))
        last_line, last = out[-1]
        if d.body_col >= 0:
            if has_members:
                if brace:
                    out[-1] = (last_line, last.rstrip() + " {" if not last.rstrip().endswith("{") else last)
                    open_containers.append((d.end_line, d.start_line, indent))
            elif fam == "python":
                init_attrs = d.name == "__init__" and any(
                    c.kind == "attribute" and d.start_line < c.start_line <= d.end_line for c in defs
                )
                if not init_attrs:
                    out[-1] = (last_line, last + " ...")
            elif brace:
                stripped = last.rstrip()
                if stripped.endswith("{"):
                    stripped = stripped[:-1].rstrip()
                out[-1] = (last_line, stripped + " { ... }")
    while open_containers:
        end, _, indent = open_containers.pop()
        if brace:
            out.append((end, indent + "}"))
    return out
