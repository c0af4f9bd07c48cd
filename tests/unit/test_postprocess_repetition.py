"""Loops are cut after the first copy."""

from __future__ import annotations

from qwen_ls.postprocess.repetition import repetition_cut


def cut(raw: str) -> str:
    k = repetition_cut(raw)
    return raw if k is None else raw[:k]


def test_same_line_three_times() -> None:
    assert cut("a()\nx += 1\nx += 1\nx += 1\nb()\n") == "a()\nx += 1"


def test_two_copies_of_one_line_are_fine() -> None:
    assert cut("print()\nprint()\n") == "print()\nprint()\n"


def test_block_repeated() -> None:
    raw = "a = f(1)\nb = g(a)\na = f(1)\nb = g(a)\n"
    assert cut(raw) == "a = f(1)\nb = g(a)"


def test_punctuation_only_lines_do_not_count() -> None:
    assert cut("  }\n}\n}\n}\n") == "  }\n}\n}\n}\n"


def test_chain_looping_within_a_line_is_cut_where_brackets_balance() -> None:
    raw = "x.getProject().get(0).getConfig().get(0).getConfig().get(0).getConfig().get(0)."
    assert cut(raw) == "x.getProject().get(0).getConfig()"
    assert cut("fetch(u).then(f).then(g).then(f).then(g).then(f).then(g)\n") == "fetch(u).then(f).then(g)"


def test_repeated_values_and_short_chains_are_code() -> None:
    for code in (
        "x = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]\n",
        "m = np.zeros((weight, weight, weight))\n",
        "node = node.next().next().next()\n",
        'print("========================================")\n',
    ):
        assert cut(code) == code


def test_a_loop_in_a_later_line_is_cut_there() -> None:
    raw = "a = 1\nb = c.add(1).pop().add(1).pop().add(1).pop().add(1)\n"
    assert cut(raw) == "a = 1\nb = c.add(1).pop()"
