"""tree-sitter grammars: which language a file is, a cached parser per language, and error counting.

Shared by post-processing (syntax-aware truncation), context (symbol tables) and repair (verification).
Grammars come from the per-language `tree-sitter-*` wheels, which ship compiled parsers and need no
network at run time. A language without a grammar simply gets no syntax-aware behaviour.
"""

from __future__ import annotations

import importlib
import threading
from functools import cache
from pathlib import PurePath
from typing import Any

import tree_sitter as ts

#: LSP languageId / our language name -> (module, function) that returns the grammar.
_GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "javascriptreact": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "typescriptreact": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "csharp": ("tree_sitter_c_sharp", "language"),
}

#: File extension -> language name (LSP languageId spelling).
EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascriptreact",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "typescriptreact",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".hxx": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
    ".kt": "kotlin",
    ".swift": "swift",
    ".lua": "lua",
    ".sh": "shellscript",
}

#: Editors send several spellings; map them to ours.
_ALIASES = {
    "py": "python",
    "python3": "python",
    "js": "javascript",
    "ts": "typescript",
    "tsx": "typescriptreact",
    "jsx": "javascriptreact",
    "golang": "go",
    "rs": "rust",
    "c++": "cpp",
    "objective-c": "c",
    "cs": "csharp",
}


def language_for_path(path: str | PurePath) -> str | None:
    """The language of a file from its extension, or None when unknown."""
    return EXTENSIONS.get(PurePath(path).suffix.lower())


def normalize_language(language_id: str | None, path: str | PurePath | None = None) -> str | None:
    """An editor's languageId, cleaned up; falls back to the file extension."""
    if language_id:
        lang = language_id.lower()
        lang = _ALIASES.get(lang, lang)
        if lang not in ("plaintext", ""):
            return lang
    return language_for_path(path) if path is not None else None


def family(language: str | None) -> str | None:
    """The grammar family: typescriptreact -> typescript, javascriptreact -> javascript."""
    if language is None:
        return None
    return {"typescriptreact": "typescript", "javascriptreact": "javascript"}.get(language, language)


@cache
def get_language(language: str) -> ts.Language | None:
    spec = _GRAMMARS.get(language)
    if spec is None:
        return None
    try:
        module = importlib.import_module(spec[0])
        return ts.Language(getattr(module, spec[1])())
    except Exception:  # a broken or missing grammar wheel must not break completions
        return None


_local = threading.local()


def get_parser(language: str | None) -> ts.Parser | None:
    """A parser for the language, one per thread (tree-sitter parsers are not thread-safe)."""
    if language is None:
        return None
    lang = get_language(language)
    if lang is None:
        return None
    parsers: dict[str, ts.Parser] = _local.__dict__.setdefault("parsers", {})
    parser = parsers.get(language)
    if parser is None:
        parser = parsers[language] = ts.Parser(lang)
    return parser


def has_grammar(language: str | None) -> bool:
    return language is not None and get_language(language) is not None


def parse(text: str, language: str | None) -> ts.Tree | None:
    parser = get_parser(language)
    if parser is None:
        return None
    return parser.parse(text.encode("utf-8"))


#: Nodes that only decorate the declaration after them: C# attribute lists, Java annotations, Python
#: and TypeScript decorators, Rust outer attributes, C++ attribute declarations. A C# `[assembly: ...]`
#: is a `global_attribute` and a Rust `#![...]` an `inner_attribute_item`: those stand alone.
DECORATIONS = frozenset(
    {
        "attribute_list",
        "annotation",
        "marker_annotation",
        "decorator",
        "attribute_item",
        "attribute_declaration",
    }
)


def last_leaf_before(node: Any, end_byte: int) -> Any | None:
    """The last token (leaf, not a comment, not zero-width) that ends at or before `end_byte`."""
    best: Any = None
    stack = [node]
    while stack:
        n = stack.pop()
        if n.start_byte >= end_byte and n.end_byte > n.start_byte:
            continue
        if best is not None and n.end_byte <= best.end_byte:
            continue
        if n.child_count == 0:
            if n.end_byte <= end_byte and n.end_byte > n.start_byte and not n.is_extra:
                best = n
            continue
        stack.extend(n.children)
    return best


def error_nodes(node: Any, start_byte: int = 0, end_byte: int | None = None) -> list[Any]:
    """ERROR and MISSING nodes under `node` that overlap [start_byte, end_byte)."""
    found: list[Any] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if end_byte is not None and n.start_byte >= end_byte and n.end_byte > n.start_byte:
            continue
        if n.end_byte < start_byte:
            continue
        if not n.has_error and not n.is_missing:
            continue
        if n.is_error or n.is_missing:
            found.append(n)
            if n.is_missing:
                continue
        stack.extend(n.children)
    return found


def count_errors(
    text: str, language: str | None, start_byte: int = 0, end_byte: int | None = None
) -> int | None:
    """Number of ERROR/MISSING nodes in text (optionally in a byte range); None without a grammar."""
    tree = parse(text, language)
    if tree is None:
        return None
    return len(error_nodes(tree.root_node, start_byte, end_byte))
