"""One repair from end to end, without a server: plan (region + prompt), generate (a callback the
caller supplies: the engine, a scripted fake, a benchmark), extract, verify, diff.

The LSP layer calls `plan_repair` when an action is resolved, runs the generation on the engine lane,
then `finish_repair`; `run_repair` does all of it synchronously, with retries that tell the model why
its previous answer was rejected.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qwen_ls.repair.data import Diagnostic, Region, RepairResult
from qwen_ls.repair.diff import region_edits
from qwen_ls.repair.extract import Extracted, extract_candidate, extract_fim_candidate
from qwen_ls.repair.prompt import ChatMessage, FimRewrite, build_fim_rewrite, build_messages, retry_messages
from qwen_ls.repair.region import select_regions
from qwen_ls.repair.settings import RepairSettings
from qwen_ls.repair.text import split_lines
from qwen_ls.repair.verify import replace_region, verify_candidate

ACTION_PREFIX = "Fix with Qwen: "
_ECHO_LINES = 40


def action_title(diagnostic: Diagnostic) -> str:
    return ACTION_PREFIX + diagnostic.short_message()


def fingerprint(text: str) -> str:
    """A short hash of a document, for clients that send no versions."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def stale_reason(
    made_for: int | None,
    current: int | None,
    made_for_hash: str | None = None,
    current_text: str | None = None,
) -> str | None:
    """Why a fix made for one document version must not be applied to the current one (None: fresh)."""
    if made_for is not None and current is not None:
        if made_for != current:
            return (
                f"the document changed since the fix was requested (version {made_for}, now {current}); "
                "ask again"
            )
        return None
    if made_for_hash is not None and current_text is not None and fingerprint(current_text) != made_for_hash:
        return "the document changed since the fix was requested; ask again"
    return None


@dataclass(frozen=True)
class RepairRequest:
    text: str
    language: str | None
    diagnostics: tuple[Diagnostic, ...]
    path: str | None = None
    version: int | None = None
    #: Relevant code from other files (the context issue's snippets), already budgeted.
    snippets: tuple[str, ...] = ()


@dataclass(frozen=True)
class RepairPlan:
    request: RepairRequest
    region: Region
    messages: tuple[ChatMessage, ...]
    fim: FimRewrite
    max_tokens: int
    surrounding_lines: int = 20


def plan_repair(request: RepairRequest, settings: RepairSettings) -> RepairPlan | None:
    """The region and prompts for a request's diagnostics (the first region when they lie apart)."""
    regions = select_regions(
        request.text, request.diagnostics, request.language, settings.context_lines, settings.max_region_lines
    )
    if not regions:
        return None
    region = regions[0]
    region_text = region.text(request.text)
    # Room for the whole region again plus fences and a few added lines, never above the setting.
    max_tokens = min(settings.max_tokens, len(region_text) // 2 + 128)
    messages = build_messages(
        request.text, region, request.language, request.path, settings.surrounding_lines, request.snippets
    )
    fim = build_fim_rewrite(request.text, region, request.language, max_tokens)
    return RepairPlan(request, region, tuple(messages), fim, max_tokens, settings.surrounding_lines)


def extract(plan: RepairPlan, output: str, truncated: bool = False, fim: bool = False) -> Extracted:
    if fim:
        return extract_fim_candidate(output, plan.fim.original, plan.fim.suffix, truncated)
    lines = split_lines(plan.request.text)
    region = plan.region
    # Models sometimes answer with the surrounding code too (the whole function, the read-only lines):
    # anything that repeats the lines around the region is dropped, up to what the prompt showed.
    echo = max(_ECHO_LINES, plan.surrounding_lines + 5)
    before = lines[max(0, region.start_line - echo) : region.start_line]
    after = lines[region.end_line + 1 : region.end_line + 1 + echo]
    return extract_candidate(output, region.text(plan.request.text), before, after, truncated)


def finish_repair(
    plan: RepairPlan,
    output: str,
    settings: RepairSettings,
    truncated: bool = False,
    fim: bool = False,
    attempts: int = 1,
) -> RepairResult:
    """Extract, verify and diff one model answer."""
    region = plan.region
    got = extract(plan, output, truncated, fim)
    if got.text is None:
        return RepairResult(False, got.reason, region=region, attempts=attempts)
    verdict = verify_candidate(
        plan.request.text, region, got.text, plan.request.language, None, settings.max_deleted_fraction
    )
    if not verdict.accepted:
        return RepairResult(
            False, verdict.reason, region=region, candidate=got.text, checks=verdict.checks, attempts=attempts
        )
    new_doc, _ = replace_region(plan.request.text, region, got.text)
    edits = tuple(region_edits(plan.request.text, region, got.text))
    return RepairResult(
        True,
        verdict.reason,
        edits=edits,
        region=region,
        candidate=got.text,
        new_document=new_doc,
        checks=verdict.checks,
        attempts=attempts,
    )


#: (messages or None for a FIM rewrite, temperature) -> (answer text, stopped at max tokens)
Generate = Callable[[Sequence[ChatMessage] | None, float, RepairPlan], tuple[str, bool]]


def run_repair(
    request: RepairRequest,
    settings: RepairSettings,
    generate: Generate,
    fim: bool = False,
    is_cancelled: Callable[[], bool] = lambda: False,
) -> RepairResult:
    """Plan, generate, verify; retry with the rejection reason up to `settings.attempts` times."""
    plan = plan_repair(request, settings)
    if plan is None:
        return RepairResult(False, "no diagnostic to fix")
    messages: list[ChatMessage] = list(plan.messages)
    result = RepairResult(False, "not attempted", region=plan.region)
    for attempt in range(1, settings.attempts + 1):
        if is_cancelled():
            return RepairResult(False, "cancelled", region=plan.region, attempts=attempt - 1)
        temperature = settings.temperature if attempt == 1 else settings.retry_temperature
        output, truncated = generate(None if fim else messages, temperature, plan)
        result = finish_repair(plan, output, settings, truncated, fim, attempts=attempt)
        if result.accepted:
            return result
        if not fim:
            messages = retry_messages(messages, output, result.reason)
    return result
