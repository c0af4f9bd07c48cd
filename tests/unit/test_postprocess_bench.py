"""`qwen-ls bench postprocess`: scoring, oracle, the data layout and the CLI."""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from qwen_ls.bench import postprocess_bench as pb
from qwen_ls.cli import main

SHARED = Path(os.environ.get("QWEN_LS_SHARED", Path(__file__).resolve().parents[3] / "shared"))
COMPLETEBENCH = SHARED / "data" / "completebench"


def test_completebench_edit_similarity_is_fuzz_ratio() -> None:
    assert pb.cb_edit("abc", "abd") == 67.0  # 2*LCS/(|a|+|b|) = 4/6
    assert pb.cb_edit("  same ", "same") == 100.0
    assert pb.cb_edit("", "x") == 0.0
    assert pb.cb_edit("x = 1  # note", "x = 1") == 100.0  # comments removed first


def test_completebench_exact_match_compares_stripped_lines() -> None:
    assert pb.cb_exact("a(1)\n\n   b()", "a(1)\nb()  ")
    assert not pb.cb_exact("a(1)", "a(2)")


def test_strict_scores() -> None:
    assert pb.strict_exact(" x \n", "x")
    assert not pb.strict_exact("x # c", "x")
    assert pb.strict_edit("abcd", "abce") == 75.0


def test_oracle_is_the_best_cut() -> None:
    o = pb.oracle("foo(a)\nbar()", "foo(a)")
    assert (o.cb_em, o.cb_es, o.strict_em, o.strict_es) == (True, 100.0, True, 100.0)
    o = pb.oracle("fob", "foo")
    assert not o.cb_em and o.cb_es == 80.0  # "fo"
    assert o.strict_es == pytest.approx(100 * 2 / 3)


def test_middle_of_removes_covered_suffix() -> None:
    assert pb.middle_of("x)", 1) == "x"
    assert pb.middle_of("x", 0) == "x"


def _write_dataset(root: Path) -> None:
    (root / "inputs").mkdir(parents=True)
    tasks = [
        {
            "prompt": "def f(a):\n    return g(",
            "groundtruth": "a, 1)",
            "right_context": "\n\nprint(f(2))\n",
            "metadata": {"task_id": "t/1", "file": "x.py"},
        },
        {
            "prompt": "x = ",
            "groundtruth": "compute()",
            "right_context": "\ny = 2\n",
            "metadata": {"task_id": "t/2", "file": "y.py"},
        },
    ]
    (root / "inputs" / "python.jsonl").write_text("\n".join(json.dumps(t) for t in tasks) + "\n")
    out = root / "outputs" / "M" / "python"
    out.mkdir(parents=True)
    outputs = [
        {"task_id": "t/1", "output": "a, 1)\n\nprint(f(2))\n", "stop_reason": "length"},
        {"task_id": "t/2", "output": "compute()\ny = 2\n", "stop_reason": "stop:eos"},
    ]
    (out / "plain.jsonl").write_text("\n".join(json.dumps(o) for o in outputs) + "\n")
    anchors = root / "anchor_postprocessors" / "M" / "python" / "plain"
    anchors.mkdir(parents=True)
    rows = [
        {
            "task_id": "t/1",
            "postprocessed": "a, 1)\n\nprint(f(2))\n",
            "exactMatch": False,
            "editSimilarity": 40.0,
        },
        {
            "task_id": "t/2",
            "postprocessed": "compute()\ny = 2\n",
            "exactMatch": False,
            "editSimilarity": 60.0,
        },
    ]
    (anchors / "none.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_cli_json_and_dump(tmp_path: Path) -> None:
    data = tmp_path / "cb"
    _write_dataset(data)
    dump = tmp_path / "dump.jsonl"
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["bench", "postprocess", "--data", str(data), "--json", "--dump", str(dump)])
    assert rc == 0
    result = json.loads(buf.getvalue())
    for key in (
        "exact_match",
        "edit_similarity",
        "anchor_best_exact_match",
        "anchor_best_edit_similarity",
        "oracle_exact_match",
        "oracle_edit_similarity",
        "n",
    ):
        assert key in result
    assert result["n"] == 2
    assert result["exact_match"] == 100.0 and result["edit_similarity"] == 100.0
    assert result["anchor_best_exact_match"] == 0.0 and result["anchor_best_edit_similarity"] == 50.0
    assert result["oracle_exact_match"] == 100.0
    assert set(result["by_language"]) == {"python"}
    assert "humaneval_runon" not in result
    assert result["stream"]["same_as_final"] == 2
    lines = [json.loads(line) for line in dump.read_text().splitlines()]
    assert [row["postprocessed"] for row in lines] == ["a, 1)", "compute()"]
    assert {"task_id", "model", "language", "template", "postprocessed"} <= set(lines[0])


def test_cli_rejects_a_folder_in_the_wrong_layout(tmp_path: Path) -> None:
    assert main(["bench", "postprocess", "--data", str(tmp_path)]) == 2


def test_runon_recovery_on_a_small_set(tmp_path: Path) -> None:
    import gzip

    task = {
        "task_id": "X/0",
        "prompt": "def f(x):\n",
        "canonical_solution": "    y = x + 1\n",
        "suffix": "    return y\n\n\ndef g():\n    return 2\n",
    }
    for name in ("HumanEval-SingleLineInfilling.jsonl.gz", "HumanEval-MultiLineInfilling.jsonl.gz"):
        with gzip.open(tmp_path / name, "wt") as f:
            f.write(json.dumps(task) + "\n")
    result = pb.runon_recovery(tmp_path, lines=3)
    assert result["single_line"]["rate"] == 100.0 and result["multi_line"]["total"] == 1


@pytest.mark.skipif(not COMPLETEBENCH.is_dir(), reason="../shared/data/completebench is not available")
def test_scoring_reproduces_the_anchors_stored_scores() -> None:
    rows = pb.load_rows(COMPLETEBENCH)
    checked = 0
    for row in rows[::9]:
        for em, es, text in row.anchors.values():
            assert pb.cb_exact(text, row.groundtruth) == em
            assert pb.cb_edit(text, row.groundtruth) == es
            checked += 1
    assert checked > 100


def test_safim_recovery_on_a_small_set(tmp_path: Path) -> None:
    import gzip

    tasks = [
        {
            "lang": "java",
            "task_id": "b/0",
            "ground_truth": "x += 1;",
            "eval_prompt": "class A {\n  void f() {\n    {{completion}}\n    g(x);\n  }\n}\n",
        },
        {
            "lang": "python",
            "task_id": "b/1",
            "ground_truth": "y = x * 2",
            "eval_prompt": "def f(x):\n    {{completion}}\n    return y\n",
        },
    ]
    with gzip.open(tmp_path / "block_completion.jsonl.gz", "wt") as f:
        f.write("\n".join(json.dumps(t) for t in tasks) + "\n")
    result = pb.safim_recovery(tmp_path)
    assert result == {
        "block/java": {"recovered": 1, "total": 1, "rate": 100.0},
        "block/python": {"recovered": 1, "total": 1, "rate": 100.0},
    }
