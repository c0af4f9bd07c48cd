"""Settings: layering, bad values reported and defaulted, and the README reference kept true."""

from __future__ import annotations

from pathlib import Path

from qwen_ls.config import Settings, load_settings, settings_reference_markdown, settings_schema

README = Path(__file__).resolve().parents[2] / "README.md"


def test_layers_merge_and_later_wins() -> None:
    s, warnings = load_settings(
        {"model": "a.gguf", "completion": {"mode": "single", "maxTokens": 10}},
        {"completion": {"maxTokens": 20}},
    )
    assert warnings == []
    assert s.model == "a.gguf" and s.completion.mode == "single" and s.completion.max_tokens == 20


def test_bad_values_fall_back_with_a_warning() -> None:
    s, warnings = load_settings({"completion": {"mode": "sometimes", "maxTokens": "many"}, "bogus": 1})
    assert s.completion.mode == Settings().completion.mode
    assert s.completion.max_tokens == Settings().completion.max_tokens
    assert len(warnings) == 3
    assert any("bogus" in w for w in warnings)


def test_schema_lists_every_leaf_with_a_description() -> None:
    schema = settings_schema()
    assert schema["completion.mode"]["enum"] == ["auto", "single", "multi"]
    assert schema["engine.kind"]["default"] == "embedded"
    missing = [k for k, v in schema.items() if not v["description"]]
    assert missing == []


def test_readme_configuration_reference_is_current() -> None:
    text = README.read_text()
    begin, end = "<!-- settings:begin -->\n", "<!-- settings:end -->"
    current = text[text.index(begin) + len(begin) : text.index(end)]
    assert current == settings_reference_markdown(), "run: python -m qwen_ls.config --write-readme"
