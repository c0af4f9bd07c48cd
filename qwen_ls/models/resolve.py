"""Turning a model spec (a path or a catalog name) into a GGUF path on disk.

Offline by default: a catalog model is looked for in qwen-ls's own cache, then in the Hugging Face hub
cache and llama.cpp's cache (files other tools already downloaded), and only downloaded when the caller
says so (`--download`, the `modelDownload` setting).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from qwen_ls.models.catalog import Catalog, CatalogEntry, CatalogFile, load_catalog
from qwen_ls.models.download import ProgressFn, download_file, hf_url, is_cancelled
from qwen_ls.models.errors import ModelError

MODELS_DIR_ENV = "QWEN_LS_MODELS_DIR"


def models_dir() -> Path:
    """Where qwen-ls keeps downloaded models: $QWEN_LS_MODELS_DIR, else the platform cache dir + /models."""
    env = os.environ.get(MODELS_DIR_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("qwen-ls")) / "models"


def _unique(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p not in out:
            out.append(p)
    return out


def hf_hub_caches() -> list[Path]:
    """The Hugging Face hub cache folders, as huggingface_hub resolves them."""
    env = os.environ
    xdg = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    candidates: list[Path] = []
    if env.get("HF_HUB_CACHE"):
        candidates.append(Path(env["HF_HUB_CACHE"]).expanduser())
    if env.get("HUGGINGFACE_HUB_CACHE"):
        candidates.append(Path(env["HUGGINGFACE_HUB_CACHE"]).expanduser())
    if env.get("HF_HOME"):
        candidates.append(Path(env["HF_HOME"]).expanduser() / "hub")
    candidates.append(xdg / "huggingface" / "hub")
    return _unique(candidates)


def llama_cpp_caches() -> list[Path]:
    """llama.cpp's download cache ($LLAMA_CACHE, else the platform cache dir `llama.cpp`)."""
    env = os.environ
    candidates: list[Path] = []
    if env.get("LLAMA_CACHE"):
        candidates.append(Path(env["LLAMA_CACHE"]).expanduser())
    try:
        import platformdirs

        candidates.append(Path(platformdirs.user_cache_dir("llama.cpp")))
    except ImportError:  # pragma: no cover - platformdirs is a dependency
        pass
    xdg = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    candidates.append(xdg / "llama.cpp")
    return _unique(candidates)


def _hub_snapshots(hub: Path, repo: str) -> list[Path]:
    """Snapshot folders of `repo` in a hub-layout cache, the one `refs/main` names first."""
    root = hub / ("models--" + repo.replace("/", "--"))
    snaps = root / "snapshots"
    if not snaps.is_dir():
        return []
    ordered: list[Path] = []
    try:
        main = (root / "refs" / "main").read_text(encoding="utf-8").strip()
        if main and (snaps / main).is_dir():
            ordered.append(snaps / main)
    except OSError:
        pass
    try:
        others = sorted(
            (p for p in snaps.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True
        )
    except OSError:
        others = []
    return _unique([*ordered, *others])


def _complete(folder: Path, names: list[str], prefix: str = "") -> Path | None:
    paths = [folder / f"{prefix}{n}" for n in names]
    if all(p.is_file() for p in paths):
        return paths[0]
    return None


def candidate_locations(entry: CatalogEntry) -> list[tuple[str, Path]]:
    """Every (where, folder-or-file) a catalog model may already be in, in search order."""
    out: list[tuple[str, Path]] = [("qwen-ls cache", models_dir() / entry.main_file)]
    for hub in hf_hub_caches():
        for snap in _hub_snapshots(hub, entry.repo):
            out.append(("Hugging Face cache", snap / entry.main_file))
    for cache in llama_cpp_caches():
        # llama.cpp's `-hf` downloads: `<owner>_<repo>_<file>` (older) or the hub layout (newer).
        out.append(("llama.cpp cache", cache / f"{entry.repo.replace('/', '_')}_{entry.main_file}"))
        out.append(("llama.cpp cache", cache / entry.main_file))
        for snap in _hub_snapshots(cache, entry.repo):
            out.append(("llama.cpp cache", snap / entry.main_file))
    return out


def find_local(entry: CatalogEntry) -> Path | None:
    """The first copy of `entry` already on disk with all its files present, or None."""
    names = [f.name for f in entry.files]
    for _where, path in candidate_locations(entry):
        folder, first = path.parent, path.name
        prefix = first[: len(first) - len(entry.main_file)]
        found = _complete(folder, names, prefix)
        if found is not None:
            return found
    return None


_SPLIT_RE = re.compile(r"^(?P<prefix>.*)-00001-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


def hf_entry(spec: str) -> CatalogEntry:
    """An ad-hoc catalog entry for `hf:<owner>/<repo>/<file.gguf>` (any GGUF on the Hub).

    A first shard (`-00001-of-0000N.gguf`) brings its N-1 siblings. No sha256 is known in advance:
    the download is checked against the sha256 the Hub reports.
    """
    parts = spec[3:].strip("/").split("/", 2)
    if len(parts) != 3 or not all(parts) or not parts[2].lower().endswith(".gguf"):
        raise ModelError(
            f"cannot read model spec {spec!r}",
            "write a Hugging Face file as hf:<owner>/<repo>/<file>.gguf",
        )
    repo, filename = f"{parts[0]}/{parts[1]}", parts[2]
    names = [filename]
    m = _SPLIT_RE.match(filename)
    if m:
        count = int(m["count"])
        names = [f"{m['prefix']}-{i:05d}-of-{count:05d}.gguf" for i in range(1, count + 1)]
    return CatalogEntry(
        name=spec,
        kind="base",
        params="",
        repo=repo,
        files=tuple(CatalogFile(n) for n in names),
        quantization="",
        approx_size_gb=0.0,
        ram_gb=0.0,
        context_length=0,
        source="Hugging Face",
    )


def looks_like_path(spec: str) -> bool:
    return spec.lower().endswith(".gguf") or "/" in spec or os.sep in spec or spec.startswith(("~", "."))


def download_entry(
    entry: CatalogEntry,
    *,
    progress: ProgressFn | None = None,
    cancel: Any = None,
    force: bool = False,
    retries: int = 4,
) -> Path:
    """Download every file of `entry` into `models_dir()`; returns the path of the main file.

    `progress(done, total)` counts bytes over all the entry's files: shards already on disk count as
    done, and shards not started yet count with an even share of the catalog's approximate size.
    """
    folder = models_dir()
    if force:
        for f in entry.files:
            (folder / f.name).unlink(missing_ok=True)
            (folder / (f.name + ".part")).unlink(missing_ok=True)
    share = int(entry.approx_size_gb * 1e9 / len(entry.files))
    sizes: list[int | None] = [
        (folder / f.name).stat().st_size if (folder / f.name).is_file() else f.size_bytes for f in entry.files
    ]
    for i, f in enumerate(entry.files):
        dest = folder / f.name
        if dest.is_file():
            continue
        if is_cancelled(cancel):
            raise ModelError(f"download of {entry.name} cancelled", "run the same download again: it resumes")
        file_progress: ProgressFn | None = None
        if progress is not None:
            before = sum(s or 0 for s in sizes[:i])
            after = sum(s if s is not None else share for s in sizes[i + 1 :])

            def file_progress(done: int, total: int, before: int = before, after: int = after) -> None:
                assert progress is not None
                progress(before + done, before + total + after if total else 0)

        download_file(
            hf_url(entry.repo, f.name),
            dest,
            expected_size=f.size_bytes,
            expected_sha256=f.sha256,
            progress=file_progress,
            cancel=cancel,
            retries=retries,
        )
        sizes[i] = dest.stat().st_size
    return folder / entry.main_file


def not_downloaded_error(entry: CatalogEntry) -> ModelError:
    return ModelError(
        f"model {entry.name} is not on this machine ({entry.main_file}"
        + (f", about {entry.approx_size_gb:g} GB" if entry.approx_size_gb else "")
        + f" from huggingface.co/{entry.repo}) and downloading is off",
        f'run `qwen-ls models download {entry.name}`, or pass `--download`, or set `"modelDownload": true` '
        "in the editor settings; or give the path of a local .gguf file",
    )


def resolve_model(
    spec: str,
    *,
    download: bool = False,
    progress: ProgressFn | None = None,
    cancel: Any = None,
    catalog: Catalog | None = None,
) -> Path:
    """A GGUF path for `spec`: an existing file path, a catalog name, or `hf:<owner>/<repo>/<file>.gguf`,
    found on disk (qwen-ls, Hugging Face and llama.cpp caches) or downloaded.

    Never touches the network unless `download` is True. Raises ModelError with a fix.
    """
    spec = (spec or "").strip()
    if not spec:
        raise ModelError(
            "no model given", "set `model` to a catalog name (`qwen-ls models list`) or a .gguf path"
        )
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    cat = catalog if catalog is not None else load_catalog()
    entry = hf_entry(spec) if spec.startswith("hf:") else cat.get(spec)
    if entry is None:
        if path.is_dir():
            raise ModelError(f"{path} is a directory, not a GGUF model file", "give the .gguf file inside it")
        if looks_like_path(spec):
            raise ModelError(
                f"model file not found: {path}",
                "check the path, or give a catalog name (`qwen-ls models list`)",
            )
        raise ModelError(
            f"unknown model {spec!r}: not a file and not in the catalog",
            f"give a .gguf path or one of: {', '.join(cat.names())}",
        )
    found = find_local(entry)
    if found is not None:
        return found
    if not download:
        raise not_downloaded_error(entry)
    return download_entry(entry, progress=progress, cancel=cancel)
