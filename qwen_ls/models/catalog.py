"""The catalog of known Qwen2.5-Coder GGUF files (`models/catalog.json`, shipped inside the package).

The repository's top-level `models/catalog.json` is the file people edit; `qwen_ls/models/catalog.json`
is the copy that ships in the wheel (a unit test keeps the two identical).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from qwen_ls.models.errors import ModelError


@dataclass(frozen=True)
class CatalogFile:
    name: str
    #: Exact size in bytes, when the project has verified it (else the server's length is trusted).
    size_bytes: int | None = None
    #: Lower-case hex sha256, when the project has verified it (else the Hub's X-Linked-Etag is used).
    sha256: str | None = None


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    kind: str  # "base" | "instruct"
    params: str
    repo: str
    files: tuple[CatalogFile, ...]
    quantization: str
    approx_size_gb: float
    ram_gb: float
    context_length: int
    source: str = ""

    @property
    def main_file(self) -> str:
        """The file llama.cpp is given (the first shard of a split model)."""
        return self.files[0].name

    @property
    def split(self) -> bool:
        return len(self.files) > 1


@dataclass(frozen=True)
class Catalog:
    models: tuple[CatalogEntry, ...]
    default_completion: str
    default_repair: str

    def get(self, name: str) -> CatalogEntry | None:
        key = name.strip().lower()
        for entry in self.models:
            if entry.name == key:
                return entry
        return None

    def names(self) -> list[str]:
        return [m.name for m in self.models]


def _entry(raw: dict[str, Any]) -> CatalogEntry:
    files = tuple(
        CatalogFile(
            name=str(f["name"]),
            size_bytes=int(f["size_bytes"]) if f.get("size_bytes") is not None else None,
            sha256=str(f["sha256"]).lower() if f.get("sha256") else None,
        )
        for f in raw["files"]
    )
    if not files:
        raise ValueError(f"catalog entry {raw.get('name')!r} has no files")
    kind = str(raw["kind"])
    if kind not in ("base", "instruct"):
        raise ValueError(f"catalog entry {raw.get('name')!r}: kind must be base or instruct")
    return CatalogEntry(
        name=str(raw["name"]).lower(),
        kind=kind,
        params=str(raw.get("params", "")),
        repo=str(raw["repo"]),
        files=files,
        quantization=str(raw.get("quantization", "")),
        approx_size_gb=float(raw.get("approx_size_gb", 0.0)),
        ram_gb=float(raw.get("ram_gb", 0.0)),
        context_length=int(raw.get("context_length", 0)),
        source=str(raw.get("source", "")),
    )


def parse_catalog(data: dict[str, Any]) -> Catalog:
    models = tuple(_entry(m) for m in data["models"])
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ValueError("catalog has duplicate names")
    defaults = data.get("defaults", {})
    cat = Catalog(
        models=models,
        default_completion=str(defaults.get("completion", names[0])),
        default_repair=str(defaults.get("repair", "")),
    )
    for d in (cat.default_completion, cat.default_repair):
        if d and cat.get(d) is None:
            raise ValueError(f"catalog default {d!r} is not in the catalog")
    return cat


@functools.lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """The catalog shipped with qwen-ls."""
    try:
        text = resources.files("qwen_ls.models").joinpath("catalog.json").read_text(encoding="utf-8")
        return parse_catalog(json.loads(text))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(
            f"the model catalog shipped with qwen-ls is unreadable: {exc}",
            "reinstall qwen-ls, or give the model as a path to a .gguf file",
        ) from exc
