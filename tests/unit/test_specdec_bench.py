"""The pure parts of `qwen-ls bench specdec`: the replay of the drafting loop, costs and projections."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from qwen_ls.bench.specdec import (
    Replay,
    median_ratios,
    projected_speedup,
    replay,
    replay_all,
    split_markers,
    tokenize_templated,
    tokens_per_pass,
)
from qwen_ls.bench.specdec_run import render
from qwen_ls.engine.draft import LookupSettings, PromptLookupDrafter


class Fixed:
    """Proposes `answer` tokens: the right continuation for the first `right` of them, then wrong ones."""

    name = "fixed"

    def __init__(self, n_prompt: int, output: Sequence[int], right: int) -> None:
        self.n_prompt, self.output, self.right = n_prompt, list(output), right

    def draft(self, context: Sequence[int], k: int) -> list[int]:
        done = len(context) - self.n_prompt
        good = self.output[done : done + min(k, self.right)]
        return good + [-1] * (k - len(good))


def test_replay_counts_passes_like_the_engine() -> None:
    output = list(range(100, 110))  # 10 tokens: the first from the prefill, 9 from passes
    plain = replay([1, 2, 3], output, Fixed(3, output, 0), k_max=0)
    assert plain.passes == 9 and sum(plain.produced) == 9 and set(plain.drafts) == {0}
    # every draft right: each pass produces k + 1 tokens, the last pass what is left
    perfect = replay([1, 2, 3], output, Fixed(3, output, 99), k_max=3)
    assert perfect.produced == [4, 4, 1] and perfect.drafts == [3, 3, 0]
    # two right, then wrong: 3 tokens per pass
    partial = replay([1, 2, 3], output, Fixed(3, output, 2), k_max=4)
    assert partial.produced[0] == 3 and partial.drafts[0] == 4
    assert sum(partial.produced) == 9


def test_replay_with_the_real_drafter_on_a_copy() -> None:
    prompt = [5, 6, 7, 8, 9, 10, 11, 12, 0, 5, 6]
    output = [7, 8, 9, 10, 11, 12]  # copies the prompt
    r = replay(prompt, output, PromptLookupDrafter(LookupSettings()), k_max=8)
    assert r.passes == 1 and r.produced == [5]  # one pass verifies 4 drafts (all it may) and adds one


def test_tokens_per_pass_and_projection() -> None:
    reps = [Replay(drafts=[2, 0], produced=[3, 1]), Replay(drafts=[2], produced=[1])]
    assert tokens_per_pass(reps) == pytest.approx(5 / 3)
    # costs: a pass verifying 2 drafts costs 1.5 one-token passes
    assert projected_speedup(reps, {2: 1.5}) == pytest.approx(5 / (1.5 + 1 + 1.5))
    assert projected_speedup([], {}) == 0.0


def test_auto_policy_replay_stops_drafting_when_it_never_pays() -> None:
    # each row offers one draft (after "0 200" the prompt continues "201 ..."), and it is always wrong
    prompt = [0, 200, 201, 1, 1, 1, 1, 1, 1, 0]
    output = [200, *range(300, 320)]
    pairs = [(prompt, output)] * 30
    ratio = {k: 1.0 + 0.5 * k for k in range(1, 5)}
    fixed = replay_all(pairs, 4, LookupSettings())
    assert sum(1 for r in fixed for k in r.drafts if k) == 30  # drafting always: 30 rejected drafts
    auto = replay_all(pairs, 4, LookupSettings(), ratio=ratio)
    verified = sum(1 for r in auto for k in r.drafts if k)
    assert 1 <= verified <= 3  # one to learn the cost, then one exploratory draft per 16 declined
    assert tokens_per_pass(auto) == pytest.approx(1.0)
    assert projected_speedup(auto, ratio) > projected_speedup(fixed, ratio)


def test_median_ratios() -> None:
    samples = {1: [1.0, 2.0, 1.0], 2: [1.1, 2.4, 1.3], 3: [2.0, 2.0, 2.0]}
    assert median_ratios(samples) == {1: pytest.approx(1.2), 2: pytest.approx(2.0)}


def test_markers_become_ids() -> None:
    text = "<|fim_prefix|>a = 1<|fim_suffix|>\n<|fim_middle|>"
    assert split_markers(text) == [151659, "a = 1", 151661, "\n", 151660]
    ids = tokenize_templated(text, lambda s: [ord(c) for c in s])
    assert ids == [151659, ord("a"), ord(" "), ord("="), ord(" "), ord("1"), 151661, 10, 151660]


def test_render() -> None:
    report = {
        "k_max": 2,
        "tokens": 16,
        "costs": {
            "0.5b": {"threads": 2, "depths": {"1024": {"one_token_ms": 40.0, "ratio": {1: 1.1, 2: 1.3}}}}
        },
        "acceptance": {
            "python": {
                "rows": 3,
                "tokens_per_pass": {1: 1.4, 2: 1.6},
                "projected": {
                    "0.5b@1024": {
                        "best_k": 2,
                        "best_speedup": 1.2,
                        "speedup_k_max": 1.2,
                        "auto_speedup": 1.15,
                        "auto_tokens_per_pass": 1.5,
                    }
                },
            }
        },
    }
    text = render(report)
    assert "1.10" in text and "python" in text and "auto x1.15" in text


def test_bench_is_registered() -> None:
    from qwen_ls.cli import build_parser

    args = build_parser().parse_args(["bench", "specdec", "--skip-cost", "--json"])
    assert args.skip_cost and args.json and args.k_max == 8
