"""`repair.*` settings: which model writes fixes and how much code it sees and may change."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RepairSettings:
    #: Offer "Fix with Qwen" code actions at all.
    enabled: bool = True
    #: The Instruct GGUF (a path or a catalog name). None: rewrite the region with the completion
    #: model in fill-in-the-middle mode instead (weaker: it never sees the diagnostic text).
    model: str | None = None
    #: Lines kept on each side of a diagnostic before the region is widened to whole statements.
    context_lines: int = 3
    #: A region never grows past this many lines through statement widening (the diagnostic's own
    #: lines are always included).
    max_region_lines: int = 40
    #: Read-only lines shown to the model before and after the region, so it knows the scope.
    surrounding_lines: int = 20
    #: Tokens of relevant code from other files (the repository context's snippets) in the prompt;
    #: 0 leaves them out.
    context_tokens: int = 512
    #: Tokens the model may generate for one fix.
    max_tokens: int = 768
    #: 0 is greedy; later attempts (when `attempts` > 1) use `retry_temperature`.
    temperature: float = 0.0
    #: Sampling temperature of the retries after a rejected candidate.
    retry_temperature: float = 0.4
    #: Tries per action: a rejected candidate is sent back with the reason it was rejected.
    attempts: int = 1
    #: Diagnostics offered as actions per request (the closest to the cursor first).
    max_diagnostics: int = 8
    #: Reject a candidate that removes more than this share of the region's non-blank characters.
    max_deleted_fraction: float = 0.6
    #: Seconds a fix may take before it is given up (the user is told).
    timeout_s: float = 120.0

    def validate(self) -> list[str]:
        problems: list[str] = []
        if self.context_lines < 0:
            problems.append("contextLines must be >= 0")
        if self.max_region_lines < 1:
            problems.append("maxRegionLines must be >= 1")
        if self.surrounding_lines < 0:
            problems.append("surroundingLines must be >= 0")
        if self.context_tokens < 0:
            problems.append("contextTokens must be >= 0")
        if self.max_tokens < 16:
            problems.append("maxTokens must be >= 16")
        if not 0.0 <= self.temperature <= 2.0 or not 0.0 <= self.retry_temperature <= 2.0:
            problems.append("temperature and retryTemperature must be between 0 and 2")
        if not 1 <= self.attempts <= 5:
            problems.append("attempts must be between 1 and 5")
        if self.max_diagnostics < 1:
            problems.append("maxDiagnostics must be >= 1")
        if not 0.0 < self.max_deleted_fraction <= 1.0:
            problems.append("maxDeletedFraction must be in (0, 1]")
        if self.timeout_s <= 0:
            problems.append("timeoutS must be > 0")
        return problems
