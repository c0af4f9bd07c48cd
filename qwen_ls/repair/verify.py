"""Checking a candidate fix before anyone sees it.

`verify_candidate` rejects, with a reason a user can read:
- an unchanged region, or one whose code is mostly deleted;
- edits that reach outside the region (the minimal diff must stay inside it);
- more tree-sitter ERROR/MISSING nodes than before, in the region or in the whole document;
- for Python, a document that no longer compiles because of the region (`compile()`), or a name the
  candidate uses that is bound nowhere (a pyflakes-like check);
- a diagnostic the server can re-detect by itself that is still there: a syntax error it finds at that
  place, an undefined name the diagnostic names, a function that can still fall off its end.

`check_fix` is the part that looks at the new document (everything but the unchanged/deleted rules);
the repair benchmark measures it on its own.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from qwen_ls import syntax
from qwen_ls.repair import checks
from qwen_ls.repair.data import Diagnostic, Region, Verdict
from qwen_ls.repair.diff import apply_edits, edits_within, region_edits
from qwen_ls.repair.text import split_lines


def replace_region(document: str, region: Region, replacement: str) -> tuple[str, Region]:
    """The new document and where the region is in it."""
    new_doc = document[: region.start] + replacement + document[region.end :]
    n = len(split_lines(replacement))
    if replacement.endswith(("\n", "\r")) or replacement == "":
        n -= 1
    end_line = region.start_line + max(n, 1) - 1
    return new_doc, Region(
        region.start_line, end_line, region.start, region.start + len(replacement), region.diagnostics
    )


def _bytes(text: str, start: int, end: int) -> tuple[int, int]:
    b_start = len(text[:start].encode("utf-8"))
    return b_start, b_start + len(text[start:end].encode("utf-8"))


def _nonblank(text: str) -> int:
    return sum(1 for ch in text if not ch.isspace())


def _diag_lines(diagnostic: Diagnostic) -> tuple[int, int]:
    last = diagnostic.end_line
    if last > diagnostic.start_line and diagnostic.end_character == 0:
        last -= 1
    return diagnostic.start_line, max(last, diagnostic.start_line)


def check_fix(
    document: str,
    region: Region,
    replacement: str,
    language: str | None,
    diagnostics: Sequence[Diagnostic] | None = None,
) -> Verdict:
    """Everything verification knows about the document after the fix (no unchanged/deleted rules)."""
    language = syntax.family(language)
    diags = list(diagnostics if diagnostics is not None else region.diagnostics)
    new_doc, new_region = replace_region(document, region, replacement)
    log: list[str] = []

    def reject(reason: str) -> Verdict:
        log.append(f"rejected: {reason}")
        return Verdict(False, reason, tuple(log))

    # Minimal edit, confined to the region, reproducing the candidate exactly.
    edits = region_edits(document, region, replacement)
    if not edits_within(document, region, edits) or apply_edits(document, edits) != new_doc:
        return reject("the edit would change code outside the region")
    log.append(f"edit: {len(edits)} change(s) inside lines {region.start_line + 1}-{region.end_line + 1}")

    # Parse at least as well as before.
    verdict = _check_parse(document, new_doc, region, new_region, language, log)
    if verdict is not None:
        return reject(verdict)

    is_python = language == "python"
    if is_python:
        verdict = _check_python_compile(document, new_doc, region, new_region, log)
        if verdict is not None:
            return reject(verdict)
        verdict = _check_python_names(document, new_doc, region, new_region, log)
        if verdict is not None:
            return reject(verdict)
    elif syntax.has_grammar(language):
        typos = checks.likely_typos(
            document,
            new_doc,
            language,
            (region.start_line, region.end_line),
            (new_region.start_line, new_region.end_line),
        )
        if typos:
            typo, known = typos[0]
            if known is None:
                return reject(f"the fix uses `{typo}`, which nothing in the file declares")
            return reject(f"`{typo}` looks like a misspelling of `{known}` (nothing in the file declares it)")
        log.append("names: no new name that looks like a misspelling")

    verdict = _check_returns(document, new_doc, region, new_region, language, replacement, log)
    if verdict is not None:
        return reject(verdict)

    for diag in diags:
        verdict = _check_redetect(document, new_doc, region, new_region, language, diag, log)
        if verdict is not None:
            return reject(verdict)
    return Verdict(True, "verified: " + "; ".join(line.split(": ", 1)[-1] for line in log[1:]), tuple(log))


def _check_parse(
    document: str, new_doc: str, region: Region, new_region: Region, language: str | None, log: list[str]
) -> str | None:
    if syntax.has_grammar(language):
        ob = _bytes(document, region.start, region.end)
        nb = _bytes(new_doc, new_region.start, new_region.end)
        old_region = checks_count(document, language, ob)
        new_region_errors = checks_count(new_doc, language, nb)
        old_total = checks_count(document, language, None)
        new_total = checks_count(new_doc, language, None)
        if new_region_errors > old_region:
            return f"the fix adds syntax errors in the region ({new_region_errors}, was {old_region})"
        if new_total > old_total:
            return f"the fix adds syntax errors to the file ({new_total}, was {old_total})"
        log.append(
            f"parse: {new_region_errors} error node(s) in region (was {old_region}), {new_total} in file"
        )
    else:
        log.append(f"parse: no grammar for {language or 'this language'}, not checked")
    return None


def _check_returns(
    document: str,
    new_doc: str,
    region: Region,
    new_region: Region,
    language: str | None,
    replacement: str,
    log: list[str],
) -> str | None:
    old_missing = _missing_returns_in(document, language, region)
    new_missing = _missing_returns_in(new_doc, language, new_region) or []
    if old_missing is None:
        # The original does not parse: a fix that drops a return and leaves a function able to end
        # without a value is still caught.
        old_returns = _RETURN.findall(document[region.start : region.end])
        new_returns = _RETURN.findall(replacement)
        if new_missing and len(new_returns) < len(old_returns):
            return f"the fix removes a return: `{new_missing[0].name}` can end without a value"
    elif len(new_missing) > len(old_missing):
        return f"`{new_missing[0].name}` can now reach its end without returning a value"
    log.append("returns: no new function that can end without a value")
    return None


def _missing_returns_in(text: str, language: str | None, region: Region) -> list[checks.FunctionSpan] | None:
    found = checks.missing_returns(text, language)
    if found is None:
        return None
    return [f for f in found if f.end_line >= region.start_line and f.start_line <= region.end_line]


def checks_count(text: str, language: str | None, byte_range: tuple[int, int] | None) -> int:
    if byte_range is None:
        n = syntax.count_errors(text, language)
    else:
        n = syntax.count_errors(text, language, byte_range[0], byte_range[1])
    return n or 0


def _check_python_compile(
    document: str, new_doc: str, region: Region, new_region: Region, log: list[str]
) -> str | None:
    after = checks.python_compile_error(new_doc)
    if after is None:
        log.append("compile: ok")
        return None
    before = checks.python_compile_error(document)
    where = f"line {after.start_line + 1}"
    if before is None:
        return f"the file no longer compiles: {after.message} ({where})"
    if after.overlaps(new_region.start_line, new_region.end_line):
        return f"the region does not compile: {after.message} ({where})"
    if after.end_line < new_region.start_line:
        if (before.start_line, before.message) == (after.start_line, after.message):
            log.append(f"compile: an earlier error ({where}) hides the region, not checked")
            return None
        return f"the fix breaks compilation earlier in the file: {after.message} ({where})"
    log.append(f"compile: region ok, a later error remains ({where})")
    return None


_WORD = re.compile(r"[A-Za-z_]\w*")
_RETURN = re.compile(r"\breturn\b")


def _check_python_names(
    document: str, new_doc: str, region: Region, new_region: Region, log: list[str]
) -> str | None:
    after = checks.python_undefined_names(new_doc)
    if after is None:
        log.append("names: not checked (the file does not parse or uses `import *`)")
        return None
    in_region = {u.name for u in after if new_region.start_line <= u.line <= new_region.end_line}
    before = checks.python_undefined_names(document)
    if before is not None:
        known = {u.name for u in before}
    else:  # the original did not parse: only names the region did not already mention are new
        known = set(_WORD.findall(document[region.start : region.end]))
    new = sorted(in_region - known)
    if new:
        return (
            "the fix uses undefined name" + ("s " if len(new) > 1 else " ") + ", ".join(f"`{n}`" for n in new)
        )
    log.append("names: no new undefined names")
    return None


def _unchanged_lines(document: str, region: Region, new_doc: str, new_region: Region) -> dict[int, int]:
    """New line -> old line, for the region's lines the fix did not change."""
    old_lines = split_lines(document[region.start : region.end])
    new_lines = split_lines(new_doc[new_region.start : new_region.end])
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    mapping: dict[int, int] = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            mapping[new_region.start_line + block.b + k] = region.start_line + block.a + k
    return mapping


def _check_redetect(
    document: str,
    new_doc: str,
    region: Region,
    new_region: Region,
    language: str | None,
    diag: Diagnostic,
    log: list[str],
) -> str | None:
    kind = checks.classify(diag)
    d_first, d_last = _diag_lines(diag)
    label = diag.short_message(50)

    # A syntax error the server finds by itself at that place must be gone from the region.
    verdict, follow_on, scope_broken = _redetect_syntax(
        document, new_doc, region, new_region, language, diag, log
    )
    if verdict is not None:
        return verdict

    if kind.kind == checks.UNDEFINED_NAME and kind.name:
        verdict = _redetect_name(
            document, new_doc, region, new_region, language, kind.name, label, follow_on or scope_broken, log
        )
        if verdict is not None:
            return verdict

    if kind.kind == checks.MISSING_RETURN:
        verdict = _redetect_return(document, new_doc, region, new_region, language, label, log)
        if verdict is not None:
            return verdict

    redetected = any(line.startswith(f"re-detect '{label}'") and "not checked" not in line for line in log)
    if not redetected and kind.kind != checks.MISSING_RETURN:  # (that fix goes at the function's end)
        # Nothing the server can re-detect: at least the fix must change something where the problem
        # is reported (a fix that only touches other lines of the region has not addressed it).
        changed = _changed_old_lines(document, region, new_doc, new_region)
        if not any(d_first - 2 <= ln <= d_last + 2 for ln in changed):
            return f"the fix changes nothing near line {d_first + 1}, where the problem is reported"
        log.append(f"re-detect '{label}': cannot be checked; the fix changes the reported lines")
    return None


def _redetect_syntax(
    document: str,
    new_doc: str,
    region: Region,
    new_region: Region,
    language: str | None,
    diag: Diagnostic,
    log: list[str],
) -> tuple[str | None, bool, bool]:
    """(rejection or None, follow_on, scope_broken): a syntax error at the diagnostic must be gone.
    follow_on: an undefined name next to a parse error the fix touched; scope_broken: an undefined
    name the file declares, in a file that does not parse."""
    kind = checks.classify(diag)
    d_first, d_last = _diag_lines(diag)
    label = diag.short_message(50)
    # A syntax error the server finds by itself at that place must be gone from the region.
    follow_on = scope_broken = False
    before = checks.syntax_problems(document, language)
    if before is not None:
        # Only for syntax-like or unknown diagnostics: an undefined name or a missing return is not
        # about a parse error the grammar may report nearby, e.g. on a macro it cannot read. Except an
        # undefined name right next to a parse error: likely a compiler's follow-on error of the
        # broken statement (not in Python, whose names are checked exactly).
        near = [p for p in before if p.overlaps(d_first - 1, d_last + 1)]
        follow_on = kind.kind == checks.UNDEFINED_NAME and language != "python" and bool(near)
        if follow_on:
            # ... unless the fix left those lines alone: then they are the grammar's blind spots (a
            # macro), and the name itself is what must be fixed.
            kept = set(_unchanged_lines(document, region, new_doc, new_region).values())
            follow_on = not all(ln in kept for p in near for ln in range(p.start_line, p.end_line + 1))
        # An undefined name the file declares, in a file that does not parse, is most likely a scope
        # broken by the syntax error (a missing or extra brace): the syntax errors must get fewer.
        if (
            not follow_on
            and before
            and kind.kind == checks.UNDEFINED_NAME
            and kind.name
            and language != "python"
        ):
            scope_broken = checks.declares(document, language, kind.name)
        here = near if kind.kind in (checks.SYNTAX, checks.OTHER) or follow_on else []
        after = checks.syntax_problems(new_doc, language) or []
        if here:
            # No problem may remain in the region, except on lines the fix left untouched that had one
            # before (the grammar's own blind spots, like macros) and that are not next to the diagnostic.
            problem_lines = {ln for p in before for ln in range(p.start_line, p.end_line + 1)}
            mapping = _unchanged_lines(document, region, new_doc, new_region)
            for p in after:
                if not p.overlaps(new_region.start_line, new_region.end_line):
                    continue
                span = range(
                    max(p.start_line, new_region.start_line), min(p.end_line, new_region.end_line) + 1
                )
                pre_existing = all(
                    ln in mapping
                    and mapping[ln] in problem_lines
                    and not d_first - 1 <= mapping[ln] <= d_last + 1
                    for ln in span
                )
                if not pre_existing:
                    return (
                        f"the syntax error is still there: {p.message} (line {p.start_line + 1})",
                        follow_on,
                        scope_broken,
                    )
            log.append(f"re-detect '{label}': syntax error at line {d_first + 1} gone")
        elif (kind.kind == checks.SYNTAX or scope_broken) and before:
            if len(after) >= len(before):
                why = f"the syntax error reported as '{label}' is not fixed ({len(after)} problem(s) remain)"
                return why, follow_on, scope_broken
            log.append(f"re-detect '{label}': {len(before) - len(after)} syntax problem(s) fewer")
        elif kind.kind == checks.SYNTAX:
            log.append(f"re-detect '{label}': the server sees no syntax error, not checked")
    return None, follow_on, scope_broken


def _redetect_name(
    document: str,
    new_doc: str,
    region: Region,
    new_region: Region,
    language: str | None,
    name: str,
    label: str,
    follow_on_error: bool,
    log: list[str],
) -> str | None:
    """An undefined name must resolve, or (with no scope analysis) be gone from the region."""
    undefined = checks.python_undefined_names(new_doc) if language == "python" else None
    if undefined is not None:
        if any(u.name == name for u in undefined):
            return f"`{name}` is still undefined"
        log.append(f"re-detect '{label}': `{name}` now resolves")
    else:  # no scope analysis (another language, or `import *`): the name must be gone
        old_lines = checks.identifier_lines(document, language, name)
        if follow_on_error:
            log.append(f"re-detect '{label}': a follow-on error of the syntax error, judged by it")
        elif old_lines is not None and any(region.start_line <= ln <= region.end_line for ln in old_lines):
            new_lines = checks.identifier_lines(new_doc, language, name) or []
            # Still used in the region, and nothing new in the file names it (a declaration or
            # the misspelled declaration put right would add an occurrence): not fixed.
            still = any(new_region.start_line <= ln <= new_region.end_line for ln in new_lines)
            if still and len(new_lines) <= len(old_lines):
                return f"the region still uses `{name}`"
            log.append(f"re-detect '{label}': `{name}` " + ("now declared" if still else "no longer used"))
    return None


def _redetect_return(
    document: str,
    new_doc: str,
    region: Region,
    new_region: Region,
    language: str | None,
    label: str,
    log: list[str],
) -> str | None:
    """Functions of the region that could end without a value must now return on every path."""
    old = checks.missing_returns(document, language) or []
    names = {f.name for f in old if f.end_line >= region.start_line and f.start_line <= region.end_line}
    if names:
        new = checks.missing_returns(new_doc, language)
        if new is not None:
            left = [
                f
                for f in new
                if f.name in names
                and f.end_line >= new_region.start_line
                and f.start_line <= new_region.end_line
            ]
            if left:
                return f"`{left[0].name}` can still reach its end without returning a value"
            log.append(f"re-detect '{label}': every path returns")
    return None


def _changed_old_lines(document: str, region: Region, new_doc: str, new_region: Region) -> set[int]:
    """Lines of the original region that the fix changed, or next to which it inserted lines."""
    kept = set(_unchanged_lines(document, region, new_doc, new_region).values())
    changed = {ln for ln in range(region.start_line, region.end_line + 1) if ln not in kept}
    old_lines = split_lines(document[region.start : region.end])
    new_lines = split_lines(new_doc[new_region.start : new_region.end])
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, _i2, _j1, _j2 in matcher.get_opcodes():
        if tag == "insert":  # pure insertions sit between two old lines
            changed.update({region.start_line + i1 - 1, region.start_line + i1})
    return changed


def verify_candidate(
    document: str,
    region: Region,
    replacement: str,
    language: str | None,
    diagnostics: Sequence[Diagnostic] | None = None,
    max_deleted_fraction: float = 0.6,
) -> Verdict:
    """Accept or reject a candidate replacement for `region`, with the reason."""
    original = document[region.start : region.end]
    if replacement == original:
        return Verdict(False, "the model returned the code unchanged", ("rejected: unchanged",))
    old_chars, new_chars = _nonblank(original), _nonblank(replacement)
    if old_chars >= 20 and new_chars < old_chars * (1.0 - max_deleted_fraction):
        return Verdict(
            False,
            f"the fix deletes most of the region ({old_chars - new_chars} of {old_chars} characters)",
            ("rejected: deletes most of the region",),
        )
    repeated = _repeats_surroundings(document, region, replacement)
    if repeated is not None:
        return Verdict(
            False,
            f"the fix repeats code from around the region (line {repeated + 1})",
            ("rejected: repeats surrounding code",),
        )
    return check_fix(document, region, replacement, language, diagnostics)


def _substantial(lines: Sequence[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip()]


def _repeats_surroundings(document: str, region: Region, replacement: str, window: int = 40) -> int | None:
    """When the candidate starts (ends) with 3 or more non-blank lines that are the lines just before
    (after) the region, and the region itself does not: the document line where the echo starts. A
    model that answered with its read-only context would otherwise duplicate code."""
    lines = split_lines(document)
    before = _substantial(lines[max(0, region.start_line - window) : region.start_line])
    after = _substantial(lines[region.end_line + 1 : region.end_line + 1 + window])
    inside = _substantial(split_lines(document[region.start : region.end]))
    cand = _substantial(split_lines(replacement))
    for k in range(min(len(before), len(cand)), 2, -1):
        if cand[:k] == before[-k:] and inside[:k] != cand[:k]:
            return max(0, region.start_line - k)
    for k in range(min(len(after), len(cand)), 2, -1):
        if cand[-k:] == after[:k] and inside[-k:] != cand[-k:]:
            return region.end_line + 1
    return None
