"""Model files: the catalog of Qwen2.5-Coder GGUFs, finding and (on request) downloading them, and
validating a GGUF before llama.cpp loads it.

- `resolve_model(spec, download=...)`: a path or catalog name -> a GGUF path (offline by default).
- `validate_model(path)`: metadata-only checks with a clear message per problem -> `GGUFSummary`.
- `load_catalog()`: the shipped catalog (`models/catalog.json`).
"""

from __future__ import annotations

from qwen_ls.models.catalog import Catalog, CatalogEntry, CatalogFile, load_catalog
from qwen_ls.models.errors import ModelError
from qwen_ls.models.resolve import find_local, models_dir, resolve_model
from qwen_ls.models.validate import GGUFSummary, validate_model

__all__ = [
    "Catalog",
    "CatalogEntry",
    "CatalogFile",
    "GGUFSummary",
    "ModelError",
    "find_local",
    "load_catalog",
    "models_dir",
    "resolve_model",
    "validate_model",
]
