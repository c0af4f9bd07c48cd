"""Check a GGUF before llama.cpp loads it, and summarize what it holds.

llama.cpp's own failures on a bad file are a line in its log and a NULL model; here every problem gets
a message naming the file and the problem, and a fix. The header is read with `gguf_meta` (metadata
only, ~0.1 s for a Qwen vocabulary), never the weights.

Decisions:
- An architecture other than `qwen2` is a warning, not an error: llama.cpp runs many architectures, and
  what qwen-ls depends on is the Qwen FIM vocabulary, which is checked strictly.
- FIM tokens must be spelled as Qwen2.5-Coder spells them (`<|fim_prefix|>`, `<|fim_suffix|>`,
  `<|fim_middle|>`), since the prompt is Qwen's; `<|repo_name|>` / `<|file_sep|>` are reported when present
  (the prompt builder falls back to file-level FIM without them).
- A vocab-only GGUF is an error when weights are needed (`need_weights=True`, the default).
- Split GGUFs (`-00001-of-0000N.gguf`): give the first shard; every shard must be present and complete.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qwen_ls import qwen
from qwen_ls.models.errors import ModelError
from qwen_ls.models.gguf_meta import GGUFFormatError, GGUFMeta, read_gguf_meta

if TYPE_CHECKING:
    from qwen_ls.engine.base import ModelInfo

#: The FIM/repo-level tokens qwen-ls looks for, by text.
FIM_TEXTS: tuple[str, ...] = (
    qwen.FIM_PREFIX,
    qwen.FIM_SUFFIX,
    qwen.FIM_MIDDLE,
    qwen.FIM_PAD,
    qwen.REPO_NAME,
    qwen.FILE_SEP,
)
REQUIRED_FIM: tuple[str, ...] = (qwen.FIM_PREFIX, qwen.FIM_SUFFIX, qwen.FIM_MIDDLE)

_SPLIT_RE = re.compile(r"^(?P<prefix>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)

FIX_REDOWNLOAD = (
    "the file is incomplete or damaged: download it again (`qwen-ls models download NAME --force`)"
)
FIX_USE_CODER = "use a Qwen2.5-Coder GGUF (a base model for completion), e.g. `qwen2.5-coder-1.5b`"


@dataclass(frozen=True)
class GGUFSummary:
    """What a user needs to trust a model file, read from its GGUF header."""

    path: Path
    size_bytes: int
    architecture: str
    name: str = ""
    n_layer: int = 0
    n_embd: int = 0
    n_head: int = 0
    n_head_kv: int = 0
    context_length: int = 0
    n_vocab: int = 0
    file_type: int | None = None
    #: "Q8_0", "Q4_K_M", ... (from general.file_type, else the most common weight type).
    quantization: str = ""
    n_params: int = 0
    #: FIM / repo-level token text -> id, for those present in the vocabulary.
    fim_ids: dict[str, int] = field(default_factory=dict)
    has_chat_template: bool = False
    chat_template: str | None = None
    vocab_only: bool = False
    eos_id: int | None = None
    n_shards: int = 1
    #: Instruct-tuned by its metadata (general.finetune / general.name) — a hint, not a guarantee.
    instruct: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def has_repo_tokens(self) -> bool:
        return qwen.REPO_NAME in self.fim_ids and qwen.FILE_SEP in self.fim_ids

    def describe(self) -> str:
        """One line for logs and `qwen-ls check`."""
        params = f"{self.n_params / 1e9:.2f}B" if self.n_params >= 1e8 else f"{self.n_params / 1e6:.1f}M"
        return (
            f"{self.path.name}: {self.architecture}, {params} params, {self.quantization or '?'}, "
            f"{self.n_layer} layers, n_embd {self.n_embd}, heads {self.n_head}/{self.n_head_kv}, "
            f"context {self.context_length}, vocab {self.n_vocab}, {self.size_bytes / 1e6:.1f} MB"
        )

    def model_info(self, name: str = "", backend: str = "embedded") -> ModelInfo:
        """The engine's ModelInfo, filled from the header (llama.cpp may refine the FIM ids later)."""
        from qwen_ls.engine.base import ModelInfo

        return ModelInfo(
            path=str(self.path),
            name=name or self.name or self.path.stem,
            size_bytes=self.size_bytes,
            architecture=self.architecture,
            n_params=self.n_params,
            n_layer=self.n_layer,
            n_embd=self.n_embd,
            n_head=self.n_head,
            n_head_kv=self.n_head_kv,
            n_ctx_train=self.context_length,
            n_vocab=self.n_vocab,
            file_type=self.quantization,
            fim_ids=dict(self.fim_ids),
            chat_template=self.chat_template,
            backend=backend,
        )


def quantization_name(file_type: int | None, meta: GGUFMeta | None = None) -> str:
    if file_type is not None:
        try:
            from gguf import LlamaFileType

            name = LlamaFileType(file_type).name
            return name.removeprefix("MOSTLY_").replace("ALL_", "")
        except ValueError:
            pass
    if meta is not None and meta.tensors:
        from gguf import GGMLQuantizationType

        counts = Counter(t.ggml_type for t in meta.tensors if len(t.shape) >= 2)
        if counts:
            try:
                return GGMLQuantizationType(counts.most_common(1)[0][0]).name
            except ValueError:
                return ""
    return ""


def _read(path: Path, what: str = "") -> GGUFMeta:
    try:
        return read_gguf_meta(path)
    except GGUFFormatError as exc:
        label = f"{path}{what}"
        if exc.kind == "magic":
            raise ModelError(
                f"{label} is not a GGUF model file: {exc}",
                "qwen-ls loads GGUF models (llama.cpp's format); give a .gguf file or a catalog name",
            ) from exc
        if exc.kind == "truncated":
            raise ModelError(f"{label} is truncated: {exc}", FIX_REDOWNLOAD) from exc
        if exc.kind == "version":
            raise ModelError(
                f"{label}: {exc}", "re-convert the model with a current llama.cpp (GGUF v3)"
            ) from exc
        raise ModelError(f"{label} is not a valid GGUF file: {exc}", FIX_REDOWNLOAD) from exc
    except PermissionError as exc:
        raise ModelError(f"cannot read {path}: permission denied", "check the file's permissions") from exc
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}", "check the path and the disk") from exc


def _check_data(meta: GGUFMeta, label: str) -> None:
    if meta.tensors and meta.data_end > meta.file_size:
        raise ModelError(
            f"{label} is truncated: its tensors need {meta.data_end:,} bytes but the file has "
            f"{meta.file_size:,} ({meta.file_size * 100 // max(meta.data_end, 1)}% present)",
            FIX_REDOWNLOAD,
        )


def _shards(path: Path, meta: GGUFMeta) -> list[Path]:
    count = meta.get("split.count", 0)
    if not isinstance(count, int) or count <= 1:
        return [path]
    no = meta.get("split.no", 0)
    if no != 0:
        raise ModelError(
            f"{path} is shard {no + 1} of a split model", "give the first shard (the `-00001-of-` file)"
        )
    m = _SPLIT_RE.match(path.name)
    if not m or int(m["count"]) != count:
        raise ModelError(
            f"{path} is the first of {count} shards but its name does not end in -00001-of-{count:05d}.gguf",
            "keep the shard files' original names so llama.cpp can find them",
        )
    shards = [path.with_name(f"{m['prefix']}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]
    missing = [s.name for s in shards if not s.is_file()]
    if missing:
        raise ModelError(
            f"{path} is split in {count} files and {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing from {path.parent}",
            "download every shard into the same folder (`qwen-ls models download NAME`)",
        )
    return shards


def validate_model(path: str | os.PathLike[str], *, need_weights: bool = True) -> GGUFSummary:
    """Validate a GGUF model file (metadata only) and summarize it; raise ModelError on any problem."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelError(
            f"model file not found: {p}",
            "check the path, or give a catalog name (`qwen-ls models list`)",
        )
    if p.is_dir():
        raise ModelError(
            f"{p} is a directory, not a GGUF model file", "give the path of the .gguf file inside it"
        )
    meta = _read(p)
    _check_data(meta, str(p))
    shards = _shards(p, meta)
    n_params = sum(t.n_elements for t in meta.tensors)
    size = meta.file_size
    for i, shard in enumerate(shards[1:], start=2):
        sm = _read(shard, f" (shard {i} of {len(shards)})")
        _check_data(sm, f"{shard} (shard {i} of {len(shards)})")
        n_params += sum(t.n_elements for t in sm.tensors)
        size += sm.file_size

    tokens = meta.metadata.get("tokenizer.ggml.tokens")
    if not isinstance(tokens, list) or not tokens:
        raise ModelError(f"{p} has no tokenizer (no tokenizer.ggml.tokens)", FIX_USE_CODER)
    wanted = set(FIM_TEXTS)
    fim_ids = {t: i for i, t in enumerate(tokens) if t in wanted}
    missing = [t for t in REQUIRED_FIM if t not in fim_ids]
    if missing:
        raise ModelError(
            f"{p} has no fill-in-the-middle tokens: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing from its vocabulary, so it cannot complete code "
            "between a prefix and a suffix",
            FIX_USE_CODER,
        )
    vocab_only = not meta.tensors
    if vocab_only and need_weights:
        raise ModelError(
            f"{p} holds only a vocabulary (no weights): it can count tokens but cannot generate",
            "give a full model GGUF; vocab-only files serve tokenizers only",
        )

    arch = str(meta.get("general.architecture", ""))
    warnings: list[str] = []
    if arch != "qwen2":
        warnings.append(f"architecture is {arch or 'unknown'!r}, not Qwen2.5-Coder's 'qwen2'")
    if not fim_ids.keys() >= {qwen.REPO_NAME, qwen.FILE_SEP}:
        warnings.append("no <|repo_name|>/<|file_sep|> tokens: repository-level prompts are off")

    template = meta.get("tokenizer.chat_template")
    finetune = str(meta.get("general.finetune", "") or "")
    name = str(meta.get("general.name", "") or "")
    eos = meta.get("tokenizer.ggml.eos_token_id")
    file_type = meta.get("general.file_type")
    return GGUFSummary(
        path=p,
        size_bytes=size,
        architecture=arch,
        name=name,
        n_layer=_int(meta.arch_get("block_count")),
        n_embd=_int(meta.arch_get("embedding_length")),
        n_head=_int(meta.arch_get("attention.head_count")),
        n_head_kv=_int(meta.arch_get("attention.head_count_kv", meta.arch_get("attention.head_count"))),
        context_length=_int(meta.arch_get("context_length")),
        n_vocab=len(tokens),
        file_type=file_type if isinstance(file_type, int) else None,
        quantization=quantization_name(file_type if isinstance(file_type, int) else None, meta),
        n_params=n_params,
        fim_ids=fim_ids,
        has_chat_template=isinstance(template, str) and bool(template),
        chat_template=template if isinstance(template, str) else None,
        vocab_only=vocab_only,
        eos_id=eos if isinstance(eos, int) else None,
        n_shards=len(shards),
        instruct="instruct" in finetune.lower() or "instruct" in name.lower(),
        warnings=tuple(warnings),
    )


def _int(value: Any) -> int:
    # Per-layer arrays (some architectures) are ArrayInfo here; report 0 rather than guess.
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0
