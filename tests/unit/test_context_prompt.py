"""The context engine feeding the real prompt builder (`qwen_ls.prompt`), with a character tokenizer:
definitions arrive under their real paths, secrets never do, and typing keeps the context tokens."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from qwen_ls import qwen
from qwen_ls.context import ContextEngine, ContextSettings

prompt_mod = pytest.importorskip("qwen_ls.prompt")

PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAsecretmaterial\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


class CharTokenizer:
    """One token per character; special tokens by their Qwen ids."""

    def tokenize(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def detokenize(self, tokens: Sequence[int]) -> str:
        names = {v: k for k, v in qwen.SPECIAL_IDS.items()}
        return "".join(names.get(t, chr(t)) if t >= 151643 else chr(t) for t in tokens)

    def token_to_bytes(self, token: int) -> bytes:
        return self.detokenize([token]).encode()

    def special_id(self, text: str) -> int | None:
        return qwen.SPECIAL_IDS.get(text)


TOK = CharTokenizer()


def build(
    engine: ContextEngine, path: Path, text: str, offset: int, budget: int = 1500
) -> tuple[list[int], str, int]:
    ids = prompt_mod.SpecialIds.from_tokenizer(TOK)
    window = prompt_mod.build_window(TOK, text, offset, 400, 100)
    result = engine.retrieve(path, text, offset, budget, (window.start, window.end))
    pieces = [prompt_mod.ContextPiece(s.path, s.text) for s in result.snippets]
    prompt = prompt_mod.assemble(
        TOK,
        ids,
        repo_name=engine.repo_name(path),
        path=engine.relative_path(path),
        window=window,
        context=pieces,
    )
    assert prompt.parts["context"] == result.used  # the engine's token accounting is the prompt's
    return prompt.tokens, TOK.detokenize(prompt.tokens), prompt.parts["context"]


def make(tmp_path: Path) -> ContextEngine:
    engine = ContextEngine(ContextSettings(), lambda text: len(TOK.tokenize(text)))
    engine.set_roots([tmp_path])
    engine.build_index()
    return engine


def test_prompt_holds_the_definition_under_its_real_path(tmp_path: Path) -> None:
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "rates.py").write_text(
        "def vat_for(country, amount):\n    return amount * 0.2\n", encoding="utf-8"
    )
    text = "from billing.rates import vat_for\n\n\ndef invoice(total):\n    tax = vat_for("
    path = tmp_path / "billing" / "invoice.py"
    path.write_text(text, encoding="utf-8")
    _, rendered, _ = build(make(tmp_path), path, text, len(text))
    assert "<|file_sep|>billing/rates.py\ndef vat_for(country, amount):" in rendered
    assert rendered.index("billing/rates.py") < rendered.index(
        "<|file_sep|>billing/invoice.py\n<|fim_prefix|>"
    )


def test_env_file_and_private_key_never_reach_the_prompt(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("STRIPE_KEY=sk_live_topsecret\n", encoding="utf-8")
    (tmp_path / "id_ed25519").write_text(PEM, encoding="utf-8")
    (tmp_path / "config.py").write_text(
        "import os\nSTRIPE_KEY = os.environ['STRIPE_KEY']\n", encoding="utf-8"
    )
    text = "from config import STRIPE_KEY\n\n# STRIPE_KEY sk_live id_ed25519\nkey = STRIPE_KEY"
    path = tmp_path / "pay.py"
    path.write_text(text, encoding="utf-8")
    engine = make(tmp_path)
    engine.on_open(tmp_path / ".env", (tmp_path / ".env").read_text(), "dotenv")
    _, rendered, _ = build(engine, path, text, len(text))
    assert "config.py" in rendered
    assert "topsecret" not in rendered and "PRIVATE KEY" not in rendered and "secretmaterial" not in rendered


def test_typing_a_line_keeps_the_context_tokens_as_a_common_prefix(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    for i in range(6):
        (tmp_path / "lib" / f"m{i}.py").write_text(
            "\n".join(f"def op_{i}_{k}(left, right):\n    return left + right * {k}\n" for k in range(8)),
            encoding="utf-8",
        )
    body = "from lib.m1 import op_1_2\nfrom lib.m2 import op_2_3\n\n\ndef run(left, right):\n"
    body += "    mid = op_1_2(left, right)\n\n    return mid\n"
    path = tmp_path / "app.py"
    path.write_text(body, encoding="utf-8")
    engine = make(tmp_path)
    at = body.index("\n    return mid")
    typed = "\n    out = op_2_3(mid, right) + left"
    previous: list[int] | None = None
    previous_context_end = 0
    kept = 0
    for k in range(1, len(typed) + 1):
        text = body[:at] + typed[:k] + body[at:]
        tokens, _, n_context = build(engine, path, text, at + k)
        assert n_context > 0
        if previous is not None:
            common = 0
            for a, b in zip(previous, tokens, strict=False):
                if a != b:
                    break
                common += 1
            if common >= previous_context_end:
                kept += 1
        previous = tokens
        previous_context_end = n_context + 1  # the repo header precedes the context
    assert kept >= len(typed) - 3
    assert engine.stats()["context_reuse_rate"] >= 0.9
