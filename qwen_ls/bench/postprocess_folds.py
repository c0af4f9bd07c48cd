"""`qwen-ls bench postprocess --folds K`: post-processing scored out of fold.

The tasks are dealt into K folds by task id (every row of a task, all models and templates, in one
fold; each language dealt on its own so that every fold has some of each). For every held-out fold:

- ours: each language gets the rule set (`postprocess.rules.Rules`: all rules on, or one of them off)
  that scores best on the other K-1 folds (exact match + edit similarity, strict scoring, mean over
  cells), and is scored with it on the held-out fold;
- the best anchor per cell: the anchor post-processor that scores best on the same cell (model x
  language x template) of the other folds, chosen for each metric on its own, scored on the held-out
  fold; `truncate_expression` and no post-processing need no choice.

Figures are means over cells, as in the all-data report: `pooled` scores every row with the choice
made without its fold; `fold_mean` is the mean of the K held-out folds' own figures. Beside them are
the all-data figures (ours with all rules on, the anchors chosen on all rows) and `in_fold`: the same
choices made on all rows and scored on them (what tuning on the visible rows would claim). For each
rule it also reports what turning it off does on all the data and on each fold, and how often the
folds chose to.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from qwen_ls.bench import postprocess_bench as pb

METRICS = ("strict_em", "strict_es", "cb_em", "cb_es")
#: Figure names in the report, per metric.
NAMES = {
    "strict_em": ("strict", "exact_match"),
    "strict_es": ("strict", "edit_similarity"),
    "cb_em": ("completebench", "exact_match"),
    "cb_es": ("completebench", "edit_similarity"),
}
SINGLE_ANCHORS = ("truncate_expression", "none")


@dataclass
class Scored:
    """One benchmark row: where it belongs, and its four scores per rule set and per anchor."""

    cell: tuple[str, str, str]
    language: str
    task: str
    ours: dict[str, dict[str, float]] = field(default_factory=dict)
    anchors: dict[str, dict[str, float]] = field(default_factory=dict)


def _scores(pred: str, truth: str) -> dict[str, float]:
    return {
        "strict_em": 100.0 * pb.strict_exact(pred, truth),
        "strict_es": pb.strict_edit(pred, truth),
        "cb_em": 100.0 * pb.cb_exact(pred, truth),
        "cb_es": pb.cb_edit(pred, truth),
    }


def rule_sets() -> dict[str, Any]:
    """The choices a fold may make: every rule on ("all"), or one rule off ("-name")."""
    from qwen_ls.postprocess.rules import ALL_ON

    sets: dict[str, Any] = {"all": ALL_ON}
    for name in ALL_ON.names():
        sets[f"-{name}"] = ALL_ON.without(name)
    return sets


def score_rows(rows: list[pb.Row]) -> list[Scored]:
    from qwen_ls.postprocess import CompletionContext, postprocess

    sets = rule_sets()
    out = []
    for row in rows:
        s = Scored((row.model, row.language, row.template), row.language, f"{row.language}/{row.task_id}")
        for name, rules in sets.items():
            ctx = CompletionContext(row.prompt, row.right_context, pb._language_id(row), rules=rules)
            got = postprocess(row.output, ctx)
            s.ours[name] = _scores(pb.middle_of(got.text, got.replace_end), row.groundtruth)
        for pp, (_, _, text) in row.anchors.items():
            s.anchors[pp] = _scores(text, row.groundtruth)
        out.append(s)
    return out


def assign_folds(rows: Iterable[Scored], k: int, seed: int = 0) -> dict[str, int]:
    """task -> fold: each language's tasks shuffled (fixed seed) and dealt round-robin."""
    by_language: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        by_language[r.language].add(r.task)
    folds: dict[str, int] = {}
    rng = random.Random(seed)
    for language in sorted(by_language):
        tasks = sorted(by_language[language])
        rng.shuffle(tasks)
        for i, task in enumerate(tasks):
            folds[task] = i % k
    return folds


def _cell_mean(rows: list[Scored], value: Callable[[Scored], float]) -> float:
    cells: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for r in rows:
        cells[r.cell].append(value(r))
    if not cells:
        return 0.0
    return sum(sum(v) / len(v) for v in cells.values()) / len(cells)


def _objective(rows: list[Scored], name: str) -> float:
    return _cell_mean(rows, lambda r: r.ours[name]["strict_em"] + r.ours[name]["strict_es"])


def choose_rules(train: list[Scored], names: list[str]) -> str:
    """The rule set that scores best on `train`; all rules on unless another is strictly better."""
    best, best_score = names[0], _objective(train, names[0])
    for name in names[1:]:
        score = _objective(train, name)
        if score > best_score + 1e-9:
            best, best_score = name, score
    return best


def choose_anchor(train: list[Scored], metric: str) -> str | None:
    options = sorted({pp for r in train for pp in r.anchors}, key=lambda p: pb.ANCHORS.index(p))
    if not options:
        return None
    return max(
        options, key=lambda pp: sum(r.anchors[pp][metric] for r in train if pp in r.anchors) / len(train)
    )


@dataclass
class Predictions:
    """Per row, which rule set scores it and which anchor (per cell and metric) stands for the best."""

    ours: list[str]
    anchor: list[dict[str, str | None]]


def out_of_fold(
    rows: list[Scored], folds: dict[str, int], k: int
) -> tuple[Predictions, list[dict[str, str]]]:
    """Every row's choices made without its fold, and the choices of each fold (per language)."""
    names = list(rule_sets())
    ours = ["all"] * len(rows)
    anchor: list[dict[str, str | None]] = [{} for _ in rows]
    chosen: list[dict[str, str]] = []
    for f in range(k):
        held = [i for i, r in enumerate(rows) if folds[r.task] == f]
        train = [r for r in rows if folds[r.task] != f]
        picks: dict[str, str] = {}
        for language in sorted({rows[i].language for i in held}):
            picks[language] = choose_rules([r for r in train if r.language == language], names)
        chosen.append(picks)
        cell_train: dict[tuple[str, str, str], list[Scored]] = defaultdict(list)
        for r in train:
            cell_train[r.cell].append(r)
        for i in held:
            ours[i] = picks[rows[i].language]
            anchor[i] = {m: choose_anchor(cell_train.get(rows[i].cell, []), m) for m in METRICS}
    return Predictions(ours, anchor), chosen


def in_fold(rows: list[Scored]) -> tuple[Predictions, dict[str, str]]:
    """The same choices made on all rows and scored on them: what tuning on the visible data shows."""
    names = list(rule_sets())
    picks = {
        language: choose_rules([r for r in rows if r.language == language], names)
        for language in sorted({r.language for r in rows})
    }
    cells: dict[tuple[str, str, str], list[Scored]] = defaultdict(list)
    for r in rows:
        cells[r.cell].append(r)
    anchor = [{m: choose_anchor(cells[r.cell], m) for m in METRICS} for r in rows]
    return Predictions([picks[r.language] for r in rows], anchor), picks


def _anchor_value(r: Scored, pp: str | None, metric: str) -> float:
    return r.anchors[pp][metric] if pp is not None and pp in r.anchors else 0.0


def _ours(r: Scored, name: str, metric: str) -> float:
    return r.ours[name][metric]


def _chosen(r: Scored, preds: Predictions, pick: dict[int, int], metric: str) -> float:
    return r.ours[preds.ours[pick[id(r)]]][metric]


def _chosen_anchor(r: Scored, preds: Predictions, pick: dict[int, int], metric: str) -> float:
    return _anchor_value(r, preds.anchor[pick[id(r)]].get(metric), metric)


def _figures(rows: list[Scored], idx: list[int], preds: Predictions) -> dict[str, Any]:
    """The report's figures over the rows `idx` (means over cells)."""
    sub = [rows[i] for i in idx]
    pick = {id(rows[i]): i for i in idx}
    out: dict[str, Any] = {"n": len(sub)}
    for metric in METRICS:
        scoring, name = NAMES[metric]
        fig = out.setdefault(scoring, {})
        fig[f"ours_{name}"] = _cell_mean(sub, partial(_chosen, preds=preds, pick=pick, metric=metric))
        fig[f"ours_all_rules_{name}"] = _cell_mean(sub, partial(_ours, name="all", metric=metric))
        fig[f"anchor_best_{name}"] = _cell_mean(
            sub, partial(_chosen_anchor, preds=preds, pick=pick, metric=metric)
        )
        for pp in SINGLE_ANCHORS:
            fig[f"{pp}_{name}"] = _cell_mean(sub, partial(_anchor_value, pp=pp, metric=metric))
    return out


def _all_data(rows: list[Scored]) -> dict[str, Any]:
    """All-data figures: all rules on; the best anchor per cell chosen on all rows, per metric."""
    out: dict[str, Any] = {"n": len(rows)}
    cells: dict[tuple[str, str, str], list[Scored]] = defaultdict(list)
    for r in rows:
        cells[r.cell].append(r)
    for metric in METRICS:
        scoring, name = NAMES[metric]
        fig = out.setdefault(scoring, {})
        fig[f"ours_{name}"] = _cell_mean(rows, partial(_ours, name="all", metric=metric))
        best = []
        for rs in cells.values():
            pp = choose_anchor(rs, metric)
            best.append(sum(_anchor_value(r, pp, metric) for r in rs) / len(rs))
        fig[f"anchor_best_{name}"] = sum(best) / len(best) if best else 0.0
        for pp in SINGLE_ANCHORS:
            fig[f"{pp}_{name}"] = _cell_mean(rows, partial(_anchor_value, pp=pp, metric=metric))
    return out


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _mean_of(figs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for scoring in ("strict", "completebench"):
        keys = figs[0][scoring].keys()
        out[scoring] = {key: sum(f[scoring][key] for f in figs) / len(figs) for key in keys}
    return out


def rule_effects(
    rows: list[Scored], folds: dict[str, int], k: int, chosen: list[dict[str, str]]
) -> dict[str, Any]:
    """For each rule: strict exact match / edit similarity with it off minus with it on, on all rows
    and per fold, and how many (fold, language) choices turned it off."""
    out: dict[str, Any] = {}
    for name in list(rule_sets())[1:]:
        entry: dict[str, Any] = {}
        for metric in ("strict_em", "strict_es"):

            def gain(r: Scored, n: str = name, m: str = metric) -> float:
                return r.ours[n][m] - r.ours["all"][m]

            entry[f"off_minus_on_{metric}"] = _cell_mean(rows, gain)
            entry[f"per_fold_{metric}"] = [
                round(_cell_mean([r for r in rows if folds[r.task] == f], gain), 2) for f in range(k)
            ]
        entry["rows_changed"] = sum(r.ours[name] != r.ours["all"] for r in rows)
        entry["chosen_off"] = sum(p == name for picks in chosen for p in picks.values())
        out[name[1:]] = entry
    return out


def cross_validate(rows: list[Scored], k: int, seed: int = 0) -> dict[str, Any]:
    folds = assign_folds(rows, k, seed)
    preds, chosen = out_of_fold(rows, folds, k)
    tuned, tuned_choice = in_fold(rows)
    languages = sorted({r.language for r in rows})
    groups: dict[str, list[int]] = {"all": list(range(len(rows)))}
    for language in languages:
        groups[language] = [i for i, r in enumerate(rows) if r.language == language]
    result: dict[str, Any] = {"folds": k, "seed": seed, "tasks": len(folds), "groups": {}}
    for group, idx in groups.items():
        per_fold = [_figures(rows, [i for i in idx if folds[rows[i].task] == f], preds) for f in range(k)]
        per_fold = [f for f in per_fold if f["n"]]
        result["groups"][group] = {
            "pooled": _figures(rows, idx, preds),
            "fold_mean": _mean_of(per_fold),
            "all_data": _all_data([rows[i] for i in idx]),
            "in_fold": _figures(rows, idx, tuned),
        }
    result["chosen"] = chosen
    result["chosen_in_fold"] = tuned_choice
    result["rules"] = rule_effects(rows, folds, k, chosen)
    result["targets"] = fold_targets(result)
    return _rounded(result)


def fold_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 14: out-of-fold exact match and edit similarity at least the best anchor per cell's,
    overall and per language (strict scoring), pooled and as the mean of the folds."""
    out = []
    for group, g in result["groups"].items():
        for view in ("pooled", "fold_mean"):
            s = g[view]["strict"]
            for name in ("exact_match", "edit_similarity"):
                ours, anchor = s[f"ours_{name}"], s[f"anchor_best_{name}"]
                out.append(
                    {
                        "group": group,
                        "view": view,
                        "metric": name,
                        "ours": ours,
                        "anchor": anchor,
                        "met": ours >= anchor,
                    }
                )
    return out


def format_folds(result: dict[str, Any]) -> str:
    k = result["folds"]
    lines = [f"out of fold: {k} folds of {result['tasks']} tasks (seed {result['seed']}), strict scoring"]
    lines.append(
        f"{'':12}{'':10}{'ours':>8}{'anchor*':>9}{'tr_expr':>9}{'none':>8}   {'ours':>7}{'anchor*':>9}"
    )
    for group, g in result["groups"].items():
        for view in ("all_data", "in_fold", "pooled", "fold_mean"):
            s = g[view]["strict"]
            lines.append(
                f"{group:12}{view:10}{s['ours_exact_match']:8.2f}{s['anchor_best_exact_match']:9.2f}"
                f"{s['truncate_expression_exact_match']:9.2f}{s['none_exact_match']:8.2f}   "
                f"{s['ours_edit_similarity']:7.2f}{s['anchor_best_edit_similarity']:9.2f}"
            )
    lines.append(
        "(exact match: ours, best anchor per cell, truncate_expression, none | "
        "edit similarity: ours, best anchor)"
    )
    lines.append("rules (off minus on, strict EM / ES on all rows; per fold; times the folds turned it off):")
    for name, e in result["rules"].items():
        lines.append(
            f"  {name:16}{e['off_minus_on_strict_em']:+6.2f} /{e['off_minus_on_strict_es']:+6.2f}  "
            f"folds EM {e['per_fold_strict_em']} ES {e['per_fold_strict_es']}  "
            f"rows {e['rows_changed']}, off {e['chosen_off']}x"
        )
    met = [t for t in result["targets"] if not t["met"]]
    lines.append("targets (issue 14): " + ("all met" if not met else f"{len(met)} NOT met"))
    lines.extend(
        f"  NOT met {t['group']} {t['view']} {t['metric']}: {t['ours']:.2f} < {t['anchor']:.2f}" for t in met
    )
    return "\n".join(lines)
