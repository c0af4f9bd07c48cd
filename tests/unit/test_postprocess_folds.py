"""`qwen-ls bench postprocess --folds K`: folds by task, choices made out of fold."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

from qwen_ls.bench import postprocess_folds as pf
from qwen_ls.cli import main


def _row(
    language: str, task: int, model: str, ours: dict[str, float], anchors: dict[str, float]
) -> pf.Scored:
    def scores(v: float) -> dict[str, float]:
        return {m: v for m in pf.METRICS}

    names = list(pf.rule_sets())
    s = pf.Scored((model, language, "plain"), language, f"{language}/{task}")
    s.ours = {name: scores(ours.get(name, ours["all"])) for name in names}
    s.anchors = {pp: scores(v) for pp, v in anchors.items()}
    return s


def test_folds_keep_a_task_whole_and_every_language_in_every_fold() -> None:
    rows = [_row(lang, t, m, {"all": 0}, {}) for lang in ("java", "python") for t in range(6) for m in "AB"]
    folds = pf.assign_folds(rows, 3)
    assert len(folds) == 12
    for f in range(3):
        assert {r.language for r in rows if folds[r.task] == f} == {"java", "python"}
    assert pf.assign_folds(rows, 3) == folds  # deterministic


def test_a_choice_that_only_fits_one_task_loses_out_of_fold() -> None:
    # turning unit_syntax off helps a lot on task 0 and hurts a little everywhere else
    rows = []
    for t in range(4):
        off = 100.0 if t == 0 else 40.0
        rows.append(
            _row(
                "java",
                t,
                "M",
                {"all": 50.0, "-unit_syntax": off},
                {"none": 45.0, "truncate_expression": 48.0},
            )
        )
    result = pf.cross_validate(rows, 4)
    group = result["groups"]["java"]
    assert group["all_data"]["strict"]["ours_exact_match"] == 50.0
    # out of fold, task 0's fold never sees its own gain: the others choose "all", task 0's chooses off
    assert result["chosen"].count({"java": "-unit_syntax"}) == 3
    assert group["pooled"]["strict"]["ours_exact_match"] < 50.0
    assert result["rules"]["unit_syntax"]["chosen_off"] == 3
    # the best anchor per cell is chosen out of fold too
    assert group["pooled"]["strict"]["anchor_best_exact_match"] == 48.0
    targets = {(t["group"], t["view"], t["metric"]): t["met"] for t in result["targets"]}
    assert targets[("java", "pooled", "exact_match")] is False


def test_cli_folds_json(tmp_path: Path) -> None:
    from tests.unit.test_postprocess_bench import _write_dataset

    data = tmp_path / "cb"
    _write_dataset(data)
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["bench", "postprocess", "--data", str(data), "--json", "--folds", "2"])
    assert rc == 0
    oof = json.loads(buf.getvalue())["out_of_fold"]
    assert oof["folds"] == 2 and oof["tasks"] == 2
    pooled = oof["groups"]["python"]["pooled"]["strict"]
    assert pooled["ours_exact_match"] == 100.0
    assert set(oof["rules"]) == {name[1:] for name in list(pf.rule_sets())[1:]}
    assert main(["bench", "postprocess", "--data", str(data), "--folds", "1"]) == 2
