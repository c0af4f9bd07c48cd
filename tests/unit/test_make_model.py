"""The synthetic GGUF writer: header contents, tokenizer, and (with llama.cpp) loading and generating."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from qwen_ls import qwen
from qwen_ls.bench import make_model
from qwen_ls.models.gguf_meta import read_gguf_meta
from tests.conftest import SHARED, needs_llama

VOCAB_GGUF = SHARED / "data" / "qwen2-vocab" / "ggml-vocab-qwen2.gguf"


def test_tiny_header_has_qwen2_shape_and_special_ids_at_real_ids(tiny_model: Path) -> None:
    meta = read_gguf_meta(tiny_model, load_arrays=("tokenizer.ggml.tokens", "tokenizer.ggml.token_type"))
    assert meta.get("general.architecture") == "qwen2"
    assert meta.get("tokenizer.ggml.model") == "gpt2"
    assert meta.get("tokenizer.ggml.pre") == "qwen2"
    assert meta.get("qwen2.block_count") == 2
    tokens = meta.metadata["tokenizer.ggml.tokens"]
    types = meta.metadata["tokenizer.ggml.token_type"]
    assert len(tokens) == qwen.VOCAB_SIZE
    for text, tid in qwen.SPECIAL_IDS.items():
        assert tokens[tid] == text
    assert types[qwen.SPECIAL_IDS[qwen.FIM_PREFIX]] == make_model.TOKEN_CONTROL
    assert len(set(tokens)) == len(tokens)
    # Tied embeddings: no output.weight, as in the real 0.5B-3B.
    names = {t.name for t in meta.tensors}
    assert "token_embd.weight" in names and "output.weight" not in names
    assert meta.data_end == meta.file_size
    assert meta.get("tokenizer.ggml.eos_token_id") == qwen.SPECIAL_IDS[qwen.ENDOFTEXT]
    assert meta.get("tokenizer.chat_template") is None
    assert tiny_model.stat().st_size < 25_000_000


def test_tiny_vocabulary_is_printable_byte_level_bpe() -> None:
    tokens, types, merges = make_model.tiny_vocab()
    alphabet = set(make_model.bytes_to_unicode().values())
    normal = tokens[: make_model.FIRST_SPECIAL_ID]
    # Every normal token decodes through GPT-2's byte map (llama.cpp throws on other characters).
    assert all(set(t) <= alphabet for t in normal)
    assert tokens[:256] == list(make_model.bytes_to_unicode().values())
    # Merges only produce tokens that exist, and common code pieces are single tokens.
    vocab = set(tokens)
    for m in merges:
        left, right = m.split(" ")
        assert left in vocab and right in vocab and left + right in vocab
    for piece in ("def", "Ġreturn", "ĠĠĠ", "self"):
        assert piece in vocab
    assert types[: make_model.FIRST_SPECIAL_ID] == [make_model.TOKEN_NORMAL] * make_model.FIRST_SPECIAL_ID


def test_learned_merges_are_deterministic() -> None:
    make_model.learn_merges.cache_clear()
    first = make_model.learn_merges()
    make_model.learn_merges.cache_clear()
    assert make_model.learn_merges() == first
    assert len(first) > 300


def test_instruct_and_fimless_variants(tiny_instruct_model: Path, fimless_model: Path) -> None:
    meta = read_gguf_meta(tiny_instruct_model)
    assert "<|im_start|>" in meta.get("tokenizer.chat_template", "")
    assert meta.get("tokenizer.ggml.eos_token_id") == qwen.SPECIAL_IDS[qwen.IM_END]
    tokens = read_gguf_meta(fimless_model).metadata["tokenizer.ggml.tokens"]
    assert qwen.FIM_PREFIX not in tokens and qwen.FILE_SEP not in tokens
    assert qwen.ENDOFTEXT in tokens


def test_seed_changes_weights_not_header(tmp_path: Path) -> None:
    a = make_model.write_model(tmp_path / "a.gguf", seed=1)
    b = make_model.write_model(tmp_path / "b.gguf", seed=2)
    c = make_model.write_model(tmp_path / "c.gguf", seed=1)
    assert a.read_bytes() == c.read_bytes()
    assert a.stat().st_size == b.stat().st_size
    assert a.read_bytes() != b.read_bytes()
    assert not list(tmp_path.glob("*.tmp*"))


def test_real_shapes_have_real_parameter_counts() -> None:
    # Qwen2.5-Coder-0.5B has 494M parameters (tied), 1.5B has 1.54B.
    assert make_model.parameter_count("0.5b") == 494_032_768
    assert 1_540_000_000 < make_model.parameter_count("1.5b") < 1_550_000_000


def test_unknown_shape_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown shape"):
        make_model.write_model(tmp_path / "x.gguf", "7b")


@pytest.mark.skipif(not VOCAB_GGUF.is_file(), reason=f"Qwen vocab GGUF not available at {VOCAB_GGUF}")
def test_real_vocab_is_copied_with_coder_added_tokens() -> None:
    tokens, types, merges = make_model.read_vocab(VOCAB_GGUF)
    assert len(tokens) == qwen.VOCAB_SIZE and len(merges) > 150_000
    assert tokens[151659] == qwen.FIM_PREFIX and tokens[151664] == qwen.FILE_SEP
    assert types[151659] == make_model.TOKEN_CONTROL
    assert tokens[151657] == "<tool_call>" and types[151657] == make_model.TOKEN_USER_DEFINED


def test_cli_writes_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from qwen_ls.cli import main

    out = tmp_path / "cli.gguf"
    assert main(["bench", "make-model", str(out), "--shape", "tiny", "--instruct"]) == 0
    assert out.is_file() and str(out) in capsys.readouterr().out
    assert read_gguf_meta(out).get("tokenizer.chat_template")


@needs_llama
@pytest.mark.slow
def test_tiny_loads_in_llama_cpp_finds_fim_and_generates(tiny_model: Path) -> None:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(tiny_model), n_ctx=512, n_threads=1, verbose=False)
    try:
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        assert llama_cpp.llama_vocab_fim_pre(vocab) == 151659
        assert llama_cpp.llama_vocab_fim_suf(vocab) == 151661
        assert llama_cpp.llama_vocab_fim_mid(vocab) == 151660
        assert llama_cpp.llama_vocab_fim_pad(vocab) == 151662
        assert llama_cpp.llama_vocab_fim_rep(vocab) == 151663
        assert llama_cpp.llama_vocab_fim_sep(vocab) == 151664
        assert llama_cpp.llama_vocab_n_tokens(vocab) == qwen.VOCAB_SIZE

        def piece(tok: int) -> bytes:
            buf = ctypes.create_string_buffer(256)
            n = llama_cpp.llama_token_to_piece(vocab, tok, buf, 256, 0, False)
            return buf.raw[:n]

        text = "def hello(x):\n    return x"
        ids = llm.tokenize(text.encode(), add_bos=False, special=False)
        assert len(ids) <= 10  # learned merges: few tokens for common code
        assert b"".join(piece(t) for t in ids) == text.encode()
        # Special texts are not parsed without special=True; with it they map to the real ids.
        assert llm.tokenize(b"<|fim_prefix|>", add_bos=False, special=True) == [151659]
        assert 151659 not in llm.tokenize(b"<|fim_prefix|>", add_bos=False, special=False)

        out: list[int] = []
        for tok in llm.generate(ids, temp=0.0):
            out.append(tok)
            if len(out) == 8:
                break
        assert len(out) == 8
        assert all(t < make_model.FIRST_SPECIAL_ID for t in out)
        assert b"".join(piece(t) for t in out).strip()  # visible text
    finally:
        llm.close()
