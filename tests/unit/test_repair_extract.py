"""Turning model answers into the region's replacement."""

from __future__ import annotations

from qwen_ls import qwen
from qwen_ls.repair.extract import extract_candidate, extract_fim_candidate, fenced_blocks, strip_special

REGION = "    if x > 0\n        return x\n"


def test_fenced_block_is_taken_and_reindented() -> None:
    answer = "Here is the fix:\n```python\nif x > 0:\n    return x\n```\nThe colon was missing."
    got = extract_candidate(answer, REGION)
    assert got.text == "    if x > 0:\n        return x\n"


def test_the_block_most_like_the_region_wins() -> None:
    answer = "```\npip install x\n```\nthen\n```python\n    if x > 0:\n        return x\n```"
    assert extract_candidate(answer, REGION).text == "    if x > 0:\n        return x\n"


def test_line_numbers_echoed_from_the_prompt_are_removed() -> None:
    answer = "```python\n 12|     if x > 0:\n 13|         return x\n```"
    assert extract_candidate(answer, REGION).text == "    if x > 0:\n        return x\n"


def test_echoed_context_lines_are_dropped() -> None:
    before = ["def f(x):\n"]
    after = ["    return 0\n"]
    answer = "```python\ndef f(x):\n    if x > 0:\n        return x\n    return 0\n```"
    assert extract_candidate(answer, REGION, before, after).text == "    if x > 0:\n        return x\n"


def test_special_tokens_never_pass() -> None:
    answer = f"```python\n    if x > 0:\n        return x\n```{qwen.IM_END}garbage{qwen.FIM_MIDDLE}"
    assert strip_special(answer).endswith("```")
    assert extract_candidate(answer, REGION).text == "    if x > 0:\n        return x\n"
    assert qwen.FILE_SEP not in strip_special(f"a{qwen.FILE_SEP}b")


def test_truncated_answers_are_refused_with_a_reason() -> None:
    got = extract_candidate("```python\n    if x > 0:\n", REGION, truncated=True)
    assert got.text is None and "maxTokens" in got.reason
    assert extract_candidate("```python\n```", REGION).text is None


def test_unclosed_fence_at_a_natural_stop_is_accepted() -> None:
    assert extract_candidate("```python\n    if x > 0:\n        return x\n", REGION).text == (
        "    if x > 0:\n        return x\n"
    )


def test_bare_code_and_crlf_regions() -> None:
    region = "  a = 1\r\n  b = (2\r\n"
    got = extract_candidate("a = 1\nb = (2)\n", region)
    assert got.text == "  a = 1\r\n  b = (2)\r\n"


def test_blank_lines_at_region_edges_are_kept() -> None:
    region = "\n    x = 1\n\n"
    assert extract_candidate("```\nx = 2\n```", region).text == "\n    x = 2\n\n"


def test_region_without_final_newline() -> None:
    assert extract_candidate("```\nx = 2\n```", "x = 1").text == "x = 2"


def test_fenced_blocks_parsing() -> None:
    blocks, unclosed = fenced_blocks("a\n```py\n1\n```\n~~~\n2\n~~~\n```\n3")
    assert blocks == ["1\n", "2\n"] and unclosed == "3"


def test_fim_candidate_is_cut_where_the_suffix_starts() -> None:
    got = extract_fim_candidate("    y = x + 1\nreturn y\nmore", "    y = x +\n", "return y\n")
    assert got.text == "    y = x + 1\n"
    assert extract_fim_candidate("", "a\n", "b\n").text is None
    assert extract_fim_candidate("a", "a\n", "b\n", truncated=True).text is None
