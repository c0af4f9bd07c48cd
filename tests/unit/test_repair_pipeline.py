"""A repair end to end with a scripted model: plan, generate, extract, verify, minimal edit."""

from __future__ import annotations

from collections.abc import Sequence

from qwen_ls.repair import (
    ChatMessage,
    Diagnostic,
    RepairPlan,
    RepairRequest,
    RepairSettings,
    action_title,
    apply_edits,
    run_repair,
)
from qwen_ls.settings_util import from_mapping

TEXT = "def mean(xs):\n    if not xs\n        return 0.0\n    return sum(xs) / len(xs)\n"
DIAG = Diagnostic(1, 4, 1, 13, "expected ':'", "syntax-error", "Python", 1)
#: Context 0: the region is the `if` statement (lines 2-3), what the scripted answers rewrite.
TIGHT = RepairSettings(context_lines=0)
FIXED = TEXT.replace("if not xs\n", "if not xs:\n")


class Scripted:
    """Answers in order; records what it was asked."""

    def __init__(self, answers: Sequence[str], truncated: bool = False) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[list[ChatMessage] | None, float]] = []
        self.truncated = truncated

    def __call__(
        self, messages: Sequence[ChatMessage] | None, temperature: float, plan: RepairPlan
    ) -> tuple[str, bool]:
        self.calls.append((list(messages) if messages is not None else None, temperature))
        return self.answers.pop(0), self.truncated


def test_success_path_gives_a_minimal_edit_that_applies_cleanly() -> None:
    model = Scripted(["```python\nif not xs:\n    return 0.0\n```"])
    request = RepairRequest(TEXT, "python", (DIAG,), "m.py", version=4)
    result = run_repair(request, TIGHT, model)
    assert result.accepted, result.reason
    assert len(result.edits) == 1
    edit = result.edits[0]
    assert (edit.start_line, edit.start_character, edit.end_line, edit.end_character, edit.new_text) == (
        1,
        13,
        1,
        13,
        ":",
    )
    assert apply_edits(TEXT, result.edits) == FIXED == result.new_document
    assert model.calls[0][1] == 0.0
    assert action_title(DIAG) == "Fix with Qwen: expected ':'"


def test_a_rejected_answer_is_retried_with_the_reason() -> None:
    model = Scripted(
        [
            "```python\n    if not xs\n        return 0\n```",
            "```python\n    if not xs:\n        return 0.0\n```",
        ]
    )
    settings = RepairSettings(context_lines=0, attempts=2, retry_temperature=0.3)
    result = run_repair(RepairRequest(TEXT, "python", (DIAG,)), settings, model)
    assert result.accepted and result.attempts == 2
    retry_messages, temperature = model.calls[1]
    assert temperature == 0.3
    assert retry_messages is not None and retry_messages[-1].content.startswith("That fix was rejected:")


def test_all_attempts_rejected_reports_the_last_reason() -> None:
    model = Scripted(["```python\n    if not xs\n        return 0.0\n```"])
    result = run_repair(RepairRequest(TEXT, "python", (DIAG,)), TIGHT, model)
    assert not result.accepted and result.reason == "the model returned the code unchanged"
    assert result.edits == ()


def test_truncated_answer_is_refused() -> None:
    model = Scripted(["```python\n    if not xs:\n"], truncated=True)
    result = run_repair(RepairRequest(TEXT, "python", (DIAG,)), TIGHT, model)
    assert not result.accepted and "maxTokens" in result.reason


def test_fim_rewrite_path() -> None:
    model = Scripted(["    if not xs:\n        return 0.0\n    return sum(xs) / len(xs)\n"])
    settings = RepairSettings(context_lines=0)
    result = run_repair(RepairRequest(TEXT, "python", (DIAG,)), settings, model, fim=True)
    assert model.calls[0][0] is None
    assert result.accepted, result.reason
    assert result.new_document == FIXED


def test_cancel_before_generation() -> None:
    model = Scripted(["unused"])
    result = run_repair(
        RepairRequest(TEXT, "python", (DIAG,)), RepairSettings(), model, is_cancelled=lambda: True
    )
    assert not result.accepted and result.reason == "cancelled" and not model.calls


def test_no_diagnostics() -> None:
    assert (
        run_repair(RepairRequest(TEXT, "python", ()), RepairSettings(), Scripted([])).reason
        == "no diagnostic to fix"
    )


def test_settings_from_json_with_bad_values() -> None:
    settings, warnings = from_mapping(
        RepairSettings, {"model": "qwen2.5-coder-1.5b-instruct", "contextLines": 5, "attempts": 9, "bogus": 1}
    )
    assert settings.model == "qwen2.5-coder-1.5b-instruct" and settings.context_lines == 5
    assert any("attempts" in w for w in warnings) and any("bogus" in w for w in warnings)
    assert RepairSettings().validate() == []


def test_an_answer_with_the_whole_function_is_cut_back_to_the_region() -> None:
    text = (
        "import math\n\n\ndef area(r):\n"
        + "".join(f"    v{i} = {i}\n" for i in range(12))
        + "    if r < 0\n        return 0\n    return math.pi * r * r\n"
    )
    diag = Diagnostic(16, 4, 16, 12, "expected ':'", None, "Python", 1)
    fixed = text.replace("if r < 0\n", "if r < 0:\n")
    whole = "```python\n" + fixed[fixed.index("def area") :] + "```"
    result = run_repair(RepairRequest(text, "python", (diag,)), TIGHT, Scripted([whole]))
    assert result.accepted, result.reason
    assert result.new_document == fixed
