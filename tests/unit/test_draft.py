"""Prompt-lookup drafting and the draft-length policy: pure code, no model."""

from __future__ import annotations

import random

import pytest

from qwen_ls.engine.draft import LookupSettings, PromptLookupDrafter, make_drafter
from qwen_ls.engine.speculative import DraftPolicy, Speculation


def brute_force(context: list[int], k: int, n_min: int, n_max: int) -> list[int]:
    """The specification: the longest suffix n-gram's latest earlier occurrence, and what followed it."""
    end = len(context)
    for n in range(min(n_max, end - 1), n_min - 1, -1):
        suffix = context[end - n :]
        for e in range(end - 1, n - 1, -1):
            if context[e - n : e] == suffix:
                return context[e : e + k]
    return []


def test_proposes_what_followed_the_longest_match() -> None:
    d = PromptLookupDrafter(LookupSettings(n_min=2, n_max=3))
    #            a  b  c  X  Y  ...  b  c  Z  W ...  a  b  c
    context = [1, 2, 3, 7, 8, 9, 2, 3, 5, 6, 0, 1, 2, 3]
    # "2 3" last occurred before "5 6", but "1 2 3" (longer) occurred before "7 8": the longer wins
    assert d.draft(context, 3) == [7, 8, 9]
    assert d.draft(context, 0) == []


def test_latest_occurrence_wins_for_equal_length() -> None:
    d = PromptLookupDrafter(LookupSettings(n_min=2, n_max=2))
    assert d.draft([4, 5, 1, 4, 5, 2, 9, 4, 5], 2) == [2, 9]


def test_no_match_and_short_context() -> None:
    d = PromptLookupDrafter()
    assert d.draft([1, 2, 3, 4, 5], 4) == []
    assert d.draft([1, 1], 4) == []  # needs n_min + 1 tokens


def test_draft_is_cut_at_the_end_of_the_context() -> None:
    d = PromptLookupDrafter(LookupSettings(n_min=2, n_max=2))
    # the only earlier "7 7" ends one token before the end: one token follows it
    assert d.draft([7, 7, 7], 5) == [7]


def test_incremental_index_matches_the_specification() -> None:
    rng = random.Random(3)
    for trial in range(30):
        settings = LookupSettings(n_min=1 + trial % 2, n_max=2 + trial % 3)
        d = PromptLookupDrafter(settings)
        context = [rng.randrange(6) for _ in range(20)]
        for _ in range(40):  # a generation: the context grows a token at a time
            k = rng.randrange(1, 6)
            assert d.draft(context, k) == brute_force(context, k, settings.n_min, settings.n_max)
            context.append(rng.randrange(6))
        # the next request shares a prefix (an edit near the cursor), or nothing at all
        for cut in (len(context) - 30, 25, 3, 0):
            context = context[:cut] + [rng.randrange(6) for _ in range(rng.randrange(0, 12))]
            k = rng.randrange(1, 6)
            assert d.draft(context, k) == brute_force(context, k, settings.n_min, settings.n_max)
            context.append(rng.randrange(6))
            assert d.draft(context, k) == brute_force(context, k, settings.n_min, settings.n_max)
        # the index holds exactly the n-grams of the context (nothing left behind by the removals)
        fresh = PromptLookupDrafter(settings)
        fresh._sync(context)
        d._sync(context)
        assert d._index == fresh._index


def test_settings_and_factory() -> None:
    with pytest.raises(ValueError):
        LookupSettings(n_min=3, n_max=2)
    assert make_drafter("off") is None
    assert isinstance(make_drafter("prompt-lookup"), PromptLookupDrafter)
    with pytest.raises(ValueError):
        make_drafter("model:nope")


def test_policy_fixed_modes() -> None:
    assert DraftPolicy("off", 8).length(5) == 0
    assert DraftPolicy("prompt-lookup", 8).length(5) == 5
    assert DraftPolicy("prompt-lookup", 4).length(9) == 4
    assert DraftPolicy("prompt-lookup", 4).length(0) == 0


def test_auto_policy_measures_then_drafts_only_with_a_gain() -> None:
    p = DraftPolicy("auto", 8)
    assert p.length(8) == 0  # no one-token pass measured yet
    p.record_plain(0.010)
    assert p.length(8) == 8  # nothing known about verification: try
    # expensive verification (each draft token costs a whole pass) and nothing accepted: decline
    for _ in range(10):
        p.record_verify(8, 0, 0.090)
    assert p.extra_per_draft == pytest.approx(1.0, rel=0.05)
    declined = [p.length(8) for _ in range(32)]
    assert declined.count(0) == 30 and declined.count(1) == 2  # one exploratory draft per 16
    # cheap verification and long acceptances: draft, and a long draft
    q = DraftPolicy("auto", 8)
    q.record_plain(0.010)
    for _ in range(10):
        q.record_verify(4, 4, 0.011)
    assert q.length(8) >= 4


def test_speculation_counts_passes() -> None:
    s = Speculation("prompt-lookup", 4)
    s.record(0, 0, 0.01)
    s.record(4, 2, 0.012)
    assert (s.stats.passes, s.stats.verify_passes, s.stats.drafted, s.stats.accepted) == (2, 1, 4, 2)
    assert s.stats.tokens_per_pass() == pytest.approx(2.0)
    assert s.propose([1, 2, 3, 1, 2], 4) == [3, 1, 2]
    assert Speculation("off", 4).propose([1, 2, 3, 1, 2], 4) == []
