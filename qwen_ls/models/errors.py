"""The one error type of the models package."""

from __future__ import annotations

from qwen_ls.engine.base import EngineError


class ModelError(EngineError):
    """A model that cannot be used: missing, not downloaded, damaged, or not a FIM model.

    `message` names the file (or catalog name) and the problem; `fix` says what the user can do.
    """
