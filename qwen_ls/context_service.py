"""The repository context engine's life cycle: created, reconfigured or dropped to follow the settings.

No LSP types: the context feature passes the workspace roots and open documents, and builds the
index (with progress) when `configure` says a new engine needs one. Token counts are exact with the
loaded model's tokenizer and a conservative estimate before it is loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qwen_ls.context.settings import ContextSettings
from qwen_ls.engine.base import EngineError

if TYPE_CHECKING:
    from qwen_ls.context import ContextEngine
    from qwen_ls.engine.base import Tokenizer

log = logging.getLogger(__name__)

#: (path, text, languageId) of a document open in the editor.
OpenDocument = tuple[Path, str, str | None]


class ContextService:
    def __init__(self, tokenizer: Callable[[], Tokenizer | None]) -> None:
        #: the loaded model's tokenizer, or None while no model is loaded
        self._tokenizer = tokenizer
        self.engine: ContextEngine | None = None
        self._settings: ContextSettings | None = None

    def count_tokens(self, text: str) -> int:
        tok = self._tokenizer()
        if tok is not None:
            try:
                return len(tok.tokenize(text))
            except EngineError:  # the model closed under us (a switch): estimate until the next one
                pass
        return max(1, len(text) // 3)

    def configure(
        self,
        settings: ContextSettings,
        enabled: bool,
        roots: Sequence[Path],
        open_documents: Iterable[OpenDocument],
    ) -> ContextEngine | None:
        """Match the settings; returns the engine when a new one was made (it needs an index build)."""
        if not enabled or not settings.enabled:
            self.close()
            return None
        if self.engine is not None and self._settings == settings:
            return None
        from qwen_ls.context import ContextEngine

        self.close()
        engine = ContextEngine(settings, self.count_tokens)
        engine.set_roots(list(roots))
        for path, text, language in open_documents:
            engine.on_open(path, text, language)
        self.engine, self._settings = engine, settings
        return engine

    def use_tokenizer(self, tokenizer: Tokenizer | None) -> None:
        """Exact counts from now on (the model just loaded). The counter asks for the loaded model's
        tokenizer at each count rather than keeping this one: a kept tokenizer keeps its model in memory
        after a model switch."""
        if self.engine is not None and tokenizer is not None:
            self.engine.set_token_counter(self.count_tokens)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
        self.engine, self._settings = None, None
