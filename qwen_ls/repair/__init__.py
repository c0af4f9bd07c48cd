"""Repair code actions' pure core: diagnostics -> region -> prompt -> candidate -> verification ->
minimal edit. No LSP types here; `qwen_ls.features.code_actions` is the glue."""

from qwen_ls.repair.data import Diagnostic, Region, RepairResult, TextEdit, Verdict
from qwen_ls.repair.diff import apply_edits, region_edits
from qwen_ls.repair.extract import extract_candidate, extract_fim_candidate, strip_special
from qwen_ls.repair.pipeline import (
    ACTION_PREFIX,
    RepairPlan,
    RepairRequest,
    action_title,
    fingerprint,
    finish_repair,
    plan_repair,
    run_repair,
    stale_reason,
)
from qwen_ls.repair.prompt import (
    ChatMessage,
    FimRewrite,
    build_chatml_prompt,
    build_fim_rewrite,
    build_messages,
)
from qwen_ls.repair.region import region_for, select_regions
from qwen_ls.repair.settings import RepairSettings
from qwen_ls.repair.verify import check_fix, verify_candidate

__all__ = [
    "ACTION_PREFIX",
    "ChatMessage",
    "Diagnostic",
    "FimRewrite",
    "Region",
    "RepairPlan",
    "RepairRequest",
    "RepairResult",
    "RepairSettings",
    "TextEdit",
    "Verdict",
    "action_title",
    "apply_edits",
    "build_chatml_prompt",
    "build_fim_rewrite",
    "build_messages",
    "check_fix",
    "extract_candidate",
    "extract_fim_candidate",
    "fingerprint",
    "finish_repair",
    "plan_repair",
    "region_edits",
    "region_for",
    "run_repair",
    "select_regions",
    "stale_reason",
    "strip_special",
    "verify_candidate",
]
