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


def test_an_invalid_value_falls_back_to_its_default_with_one_warning() -> None:
    s, warnings = load_settings({"engine": {"nCtx": 100, "threads": 2}})
    assert s.engine.n_ctx == Settings().engine.n_ctx == 4096  # it used to stay 100
    assert s.engine.threads == 2  # the good value next to it is kept
    assert len(warnings) == 1
    assert "engine.nCtx" in warnings[0] and "100" in warnings[0] and "4096" in warnings[0]


def test_values_are_converted_strictly() -> None:
    s, warnings = load_settings(
        {
            "completion": {"maxTokens": "32", "syntaxAware": 1, "maxLines": 2.0},
            "context": {"exclude": "build/", "secretPatterns": ["*.vault"]},
            "repair": {"model": None, "temperature": 1},
        }
    )
    d = Settings()
    assert s.completion.max_tokens == d.completion.max_tokens  # a string is not a number
    assert s.completion.syntax_aware is True and s.completion.max_lines == 2
    assert s.context.exclude == () and s.context.secret_patterns == ("*.vault",)
    assert s.repair.model is None and s.repair.temperature == 1.0
    assert len(warnings) == 3
    assert [w.split(":")[0] for w in warnings] == [
        "setting completion.maxTokens",
        "setting completion.syntaxAware",
        "setting context.exclude",
    ]


def test_values_wrong_together_both_fall_back() -> None:
    s, warnings = load_settings({"completion": {"suffixTokens": -1, "contextTokens": -2, "mode": "single"}})
    assert (s.completion.suffix_tokens, s.completion.context_tokens) == (256, 1024)
    assert s.completion.mode == "single"
    assert len(warnings) == 2 and all("must not be negative" in w for w in warnings)


def test_a_section_that_is_not_an_object_keeps_its_defaults() -> None:
    s, warnings = load_settings({"completion": 5, "model": "m.gguf"})
    assert s.completion == Settings().completion and s.model == "m.gguf"
    assert len(warnings) == 1 and "completion" in warnings[0]


def test_settings_round_trip_through_json() -> None:
    from qwen_ls.config import settings_to_json

    custom, warnings = load_settings({"completion": {"maxLines": 4}, "context": {"exclude": ["dist/"]}})
    assert warnings == []
    again, warnings = load_settings(settings_to_json(custom))
    assert warnings == [] and again == custom
