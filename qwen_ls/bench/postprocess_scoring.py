"""Scoring for `qwen-ls bench postprocess`: completebench's scoring (comments removed, stripped-line exact
match, python-Levenshtein-style ratio) and the strict one, plus the per-row truncation oracle.

Split out of `qwen_ls.bench.postprocess_bench` (which re-exports these names; see its docstring).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --- scoring ----------------------------------------------------------------------------------------


def remove_comments(code: str) -> str:
    """granite-completebench's comment removal (crude on purpose: it is what the anchors were scored with)."""
    code = re.sub(r"#.*", "", code)
    return re.sub(r"//.*", "", code)


def _lcs_prefixes(text: str, target: str) -> list[int]:
    """LCS(text[:m], target) for every m (one dynamic-programming pass)."""
    out = [0]
    prev = [0] * (len(target) + 1)
    for ca in text:
        cur = [0]
        for j, cb in enumerate(target):
            cur.append(prev[j] + 1 if ca == cb else max(prev[j + 1], cur[j]))
        prev = cur
        out.append(prev[-1])
    return out


def _lev_prefixes(text: str, target: str) -> list[int]:
    """Levenshtein(text[:m], target) for every m."""
    prev = list(range(len(target) + 1))
    out = [prev[-1]]
    for i, ca in enumerate(text, 1):
        cur = [i]
        for j, cb in enumerate(target, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
        out.append(prev[-1])
    return out


def _indel_ratio(lcs: int, a: int, b: int) -> float:
    return 100.0 * 2 * lcs / (a + b)


def _fuzz_ratio(pred: str, target: str) -> int:
    """fuzzywuzzy's `fuzz.ratio` with python-Levenshtein (the anchors' edit similarity)."""
    if pred == target:
        return 100
    if not pred or not target:
        return 0
    return round(_indel_ratio(_lcs_prefixes(pred, target)[-1], len(pred), len(target)))


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def cb_exact(pred: str, target: str) -> bool:
    return _lines(remove_comments(pred)) == _lines(remove_comments(target))


def cb_edit(pred: str, target: str) -> float:
    return float(_fuzz_ratio(remove_comments(pred).strip(), remove_comments(target).strip()))


def strict_exact(pred: str, target: str) -> bool:
    return pred.strip() == target.strip()


def strict_edit(pred: str, target: str) -> float:
    a, b = pred.strip(), target.strip()
    if not a and not b:
        return 100.0
    return 100.0 * (1 - _lev_prefixes(a, b)[-1] / max(len(a), len(b)))


@dataclass
class Oracle:
    cb_em: bool
    cb_es: float
    strict_em: bool
    strict_es: float
    #: The same edit similarities with cuts only right after a non-word character (a delimiter).
    cb_es_delim: float = 0.0
    strict_es_delim: float = 0.0


def _word(c: str) -> bool:
    return c.isalnum() or c == "_"


def oracle(raw: str, target: str) -> Oracle:
    """The best each score reaches over all cuts raw[:k] of the raw output."""
    # completebench: remove_comments(raw[:k]) is a prefix of remove_comments(raw) (to a stray "/").
    g = remove_comments(target).strip()
    t = remove_comments(raw).lstrip()
    lcs = _lcs_prefixes(t, g)
    best = best_delim = 100.0 if not g else 0.0
    cb_em = not _lines(g)
    for m in range(1, len(t) + 1):
        if t[m - 1].isspace():
            continue
        if m == len(g) and t[:m] == g:
            best = best_delim = 100.0
            cb_em = True
            break
        score = float(round(_indel_ratio(lcs[m], m, len(g))))
        best = max(best, score)
        if m == len(t) or not _word(t[m - 1]):
            best_delim = max(best_delim, score)
    target_lines = _lines(g)
    if not cb_em and target_lines:
        for k in range(len(raw) + 1):
            if k < len(raw) and raw[k] not in "\n":
                continue
            if _lines(remove_comments(raw[:k])) == target_lines:
                cb_em = True
                break
        else:
            # the cut may also fall inside the last line
            last = target_lines[-1]
            for k in range(len(raw) + 1):
                if raw[:k].rstrip().endswith(last) and cb_exact(raw[:k], target):
                    cb_em = True
                    break
    gs = target.strip()
    ts = raw.lstrip()
    strict_em = ts.startswith(gs)
    lev = _lev_prefixes(ts, gs)
    sbest = sbest_delim = 100.0 * (1 - lev[0] / len(gs)) if gs else 100.0
    for m in range(1, len(ts) + 1):
        if ts[m - 1].isspace():
            continue
        score = 100.0 * (1 - lev[m] / max(m, len(gs)))
        sbest = max(sbest, score)
        if m == len(ts) or not _word(ts[m - 1]):
            sbest_delim = max(sbest_delim, score)
    return Oracle(cb_em, best, strict_em, sbest, best_delim, sbest_delim)
