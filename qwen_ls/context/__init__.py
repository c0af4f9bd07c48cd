"""Repository context: the right pieces of neighbouring files in every prompt, ranked, budgeted, explainable.

The prompt builder uses `ContextEngine.retrieve`, which returns `Snippet`s in prompt order, each rendered
as `<|file_sep|>{path}\\n{text}\\n`. The sources are plug-ins, one module each, in `sources/` (its
docstring says how to add one); ranking and packing are in `packing.py`, the stability rule in
`stability.py`, and `engine.py` ties them together.
"""

from __future__ import annotations

from qwen_ls.context.engine import ContextEngine
from qwen_ls.context.settings import ContextSettings
from qwen_ls.context.types import SOURCES, ContextResult, Snippet, SourceName

__all__ = ["SOURCES", "ContextEngine", "ContextResult", "ContextSettings", "Snippet", "SourceName"]
