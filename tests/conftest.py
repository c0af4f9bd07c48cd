"""Shared fixtures: synthetic GGUF models written once per session (seconds, no download)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("QWEN_LS_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def _have_llama() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except Exception:
        return False
    return True


HAVE_LLAMA = _have_llama()
needs_llama = pytest.mark.skipif(not HAVE_LLAMA, reason="llama-cpp-python is not installed")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_model(models_dir: Path) -> Path:
    """A tiny Qwen2-architecture GGUF with Qwen2.5-Coder's special tokens and random weights."""
    from qwen_ls.bench.make_model import write_model

    path = models_dir / "tiny.gguf"
    if not path.exists():
        write_model(path, "tiny")
    return path


@pytest.fixture(scope="session")
def tiny_instruct_model(models_dir: Path) -> Path:
    from qwen_ls.bench.make_model import write_model

    path = models_dir / "tiny-instruct.gguf"
    if not path.exists():
        write_model(path, "tiny", instruct=True)
    return path


@pytest.fixture(scope="session")
def fimless_model(models_dir: Path) -> Path:
    from qwen_ls.bench.make_model import write_model

    path = models_dir / "fimless.gguf"
    if not path.exists():
        write_model(path, "tiny", fim_tokens=False)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"evaluation data not available at {data} (set QWEN_LS_SHARED)")
    return data
