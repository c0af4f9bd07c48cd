"""validate_model: a summary for a good file, and one specific message naming the file per problem."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from qwen_ls import qwen
from qwen_ls.engine.base import EngineError
from qwen_ls.models import GGUFSummary, ModelError, validate_model
from qwen_ls.models.gguf_meta import GGUFFormatError, read_gguf_meta


def test_summary_of_tiny_model(tiny_model: Path) -> None:
    s = validate_model(tiny_model)
    assert isinstance(s, GGUFSummary)
    assert s.path == tiny_model and s.size_bytes == tiny_model.stat().st_size
    assert (s.architecture, s.n_layer, s.n_embd, s.n_head, s.n_head_kv) == ("qwen2", 2, 64, 4, 2)
    assert s.context_length == 32768 and s.n_vocab == qwen.VOCAB_SIZE
    assert s.quantization == "Q8_0" and s.file_type == 7
    assert s.fim_ids == {
        t: qwen.SPECIAL_IDS[t]
        for t in (
            qwen.FIM_PREFIX,
            qwen.FIM_SUFFIX,
            qwen.FIM_MIDDLE,
            qwen.FIM_PAD,
            qwen.REPO_NAME,
            qwen.FILE_SEP,
        )
    }
    assert s.has_repo_tokens and not s.has_chat_template and not s.vocab_only and not s.instruct
    assert s.eos_id == 151643
    assert 9_000_000 < s.n_params < 11_000_000
    assert s.warnings == ()
    info = s.model_info()
    assert info.n_layer == 2 and info.fim_ids[qwen.FIM_PREFIX] == 151659 and info.file_type == "Q8_0"


def test_instruct_model_has_chat_template(tiny_instruct_model: Path) -> None:
    s = validate_model(tiny_instruct_model)
    assert s.has_chat_template and s.instruct and s.eos_id == qwen.SPECIAL_IDS[qwen.IM_END]


def test_model_error_is_an_engine_error_with_a_fix(tmp_path: Path) -> None:
    with pytest.raises(EngineError) as info:
        validate_model(tmp_path / "nope.gguf")
    assert isinstance(info.value, ModelError) and info.value.fix


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.gguf"
    with pytest.raises(ModelError, match="not found") as info:
        validate_model(path)
    assert str(path) in info.value.message


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="is a directory") as info:
        validate_model(tmp_path)
    assert str(tmp_path) in info.value.message


@pytest.mark.parametrize("content", [b"", b"GG", b"PK\x03\x04 a zip file, not a model" * 10, b"\x00" * 64])
def test_not_gguf(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="is not a GGUF model file") as info:
        validate_model(path)
    assert str(path) in info.value.message


def test_truncated_in_tensor_data(tmp_path: Path, tiny_model: Path) -> None:
    path = tmp_path / "cut.gguf"
    data = tiny_model.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="is truncated") as info:
        validate_model(path)
    assert str(path) in info.value.message and "download it again" in info.value.fix
    assert "50%" in info.value.message or "49%" in info.value.message


def test_truncated_in_header(tmp_path: Path, tiny_model: Path) -> None:
    path = tmp_path / "cut.gguf"
    with open(tiny_model, "rb") as f:
        path.write_bytes(f.read(200_000))  # inside the token list
    with pytest.raises(ModelError, match="is truncated") as info:
        validate_model(path)
    assert str(path) in info.value.message


def test_one_byte_short(tmp_path: Path, tiny_model: Path) -> None:
    path = tmp_path / "short.gguf"
    path.write_bytes(tiny_model.read_bytes()[:-1])
    with pytest.raises(ModelError, match="is truncated"):
        validate_model(path)


def test_fimless_model(fimless_model: Path) -> None:
    with pytest.raises(ModelError, match="no fill-in-the-middle tokens") as info:
        validate_model(fimless_model)
    assert str(fimless_model) in info.value.message
    assert qwen.FIM_PREFIX in info.value.message
    assert "Qwen2.5-Coder" in info.value.fix


def test_unsupported_version(tmp_path: Path, tiny_model: Path) -> None:
    path = tmp_path / "v9.gguf"
    data = bytearray(tiny_model.read_bytes()[:4096])
    data[4:8] = struct.pack("<I", 9)
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="unsupported GGUF version 9"):
        validate_model(path)


def test_absurd_counts_do_not_allocate(tmp_path: Path) -> None:
    path = tmp_path / "evil.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 2**60, 2**60) + b"\x00" * 64)
    with pytest.raises(ModelError, match="not a valid GGUF"):
        validate_model(path)


def test_vocab_only_needs_flag(tmp_path: Path, tiny_model: Path) -> None:
    # A vocab-only copy: same metadata, no tensors (as llama.cpp's ggml-vocab-*.gguf files).
    import gguf

    meta = read_gguf_meta(tiny_model, load_arrays=("tokenizer.ggml.tokens",))
    path = tmp_path / "vocab.gguf"
    w = gguf.GGUFWriter(path, arch="qwen2")
    w.add_tokenizer_model("gpt2")
    w.add_token_list(meta.metadata["tokenizer.ggml.tokens"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    with pytest.raises(ModelError, match="only a vocabulary") as info:
        validate_model(path)
    assert str(path) in info.value.message
    s = validate_model(path, need_weights=False)
    assert s.vocab_only and s.fim_ids[qwen.FIM_PREFIX] == 151659


def test_other_architecture_is_a_warning(tmp_path: Path, tiny_model: Path) -> None:
    path = tmp_path / "llama.gguf"
    data = tiny_model.read_bytes()
    # Same length string: "qwen2" -> "qwen3" keeps every offset valid.
    idx = data.index(b"general.architecture")
    patched = data[:idx] + data[idx:].replace(b"qwen2", b"qwen3", 1)
    path.write_bytes(patched)
    s = validate_model(path)
    assert s.architecture == "qwen3"
    assert any("not Qwen2.5-Coder's 'qwen2'" in w for w in s.warnings)


def test_split_model_needs_every_shard(tmp_path: Path, tiny_model: Path) -> None:
    """A first shard (split.count 2) whose second shard is missing names the missing file."""
    import gguf

    meta = read_gguf_meta(tiny_model, load_arrays=("tokenizer.ggml.tokens",))
    first = tmp_path / "m-00001-of-00002.gguf"
    w = gguf.GGUFWriter(first, arch="qwen2")
    w.add_tokenizer_model("gpt2")
    w.add_token_list(meta.metadata["tokenizer.ggml.tokens"])
    w.add_uint16("split.no", 0)
    w.add_uint16("split.count", 2)
    w.add_int32("split.tensors.count", 2)
    import numpy as np

    w.add_tensor("a.weight", np.ones(32, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(ModelError, match=r"m-00002-of-00002\.gguf is missing"):
        validate_model(first)
    second = tmp_path / "m-00002-of-00002.gguf"
    w = gguf.GGUFWriter(second, arch="qwen2")
    w.add_uint16("split.no", 1)
    w.add_uint16("split.count", 2)
    w.add_tensor("b.weight", np.ones(32, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    s = validate_model(first)
    assert s.n_shards == 2 and s.n_params == 64
    assert s.size_bytes == first.stat().st_size + second.stat().st_size
    with pytest.raises(ModelError, match="shard 2 of a split model"):
        validate_model(second)
    # A damaged later shard is caught too.
    data = second.read_bytes()
    second.write_bytes(data[:-16])
    with pytest.raises(ModelError, match=r"shard 2 of 2\) is truncated"):
        validate_model(first)


def test_reader_is_fast_and_bounded(tiny_model: Path, tmp_path: Path) -> None:
    meta = read_gguf_meta(tiny_model, load_arrays=())
    assert meta.get("tokenizer.ggml.tokens") is None  # not loaded: an ArrayInfo stays out of get()
    assert meta.metadata["tokenizer.ggml.tokens"].length == qwen.VOCAB_SIZE
    copy = tmp_path / "copy.gguf"
    shutil.copy(tiny_model, copy)
    with open(copy, "r+b") as f:
        f.write(b"GGUX")
    with pytest.raises(GGUFFormatError) as info:
        read_gguf_meta(copy)
    assert info.value.kind == "magic"
