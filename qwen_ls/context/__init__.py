"""Repository context: the right pieces of neighbouring files in every prompt, ranked, budgeted, explainable.

The prompt builder uses `ContextEngine.retrieve`, which returns `Snippet`s in prompt order, each rendered
as `<|file_sep|>{path}\\n{text}\\n`. See `engine.py` for the sources and the stability rule.
"""

from __future__ import annotations

from qwen_ls.context.engine import ContextEngine
from qwen_ls.context.settings import ContextSettings
from qwen_ls.context.types import SOURCES, ContextResult, Snippet

__all__ = ["SOURCES", "ContextEngine", "ContextResult", "ContextSettings", "Snippet"]
