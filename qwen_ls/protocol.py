"""qwen-ls's own part of the protocol, declared once: the `qwen/*` notifications and every `qwen.*`
command's arguments and result, as attrs classes in the style of lsprotocol.

The server sends and answers with these classes and the tests read answers back into them, through
`converter()` (lsprotocol's converter plus camelCase names and omitted `None`s for these classes).
Command arguments arrive as a JSON array; `structure_arguments` maps it onto the fields of the
command's arguments class in order (trailing fields with a default may be left out) and turns any
mistake into InvalidParams (-32602) that names the field, e.g.
`qwen.applyFix: required field missing @ data.diagnostic`.

Why not pygls's own per-parameter structuring: it cannot express an optional argument (VS Code sends
`qwen.stats` with `[]`, other clients with `[{"recent": 20}]`), and its errors do not name the field.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.protocol import default_converter

#: A JSON object whose shape another module owns (the stats summary, a context report).
JsonObject = dict[str, Any]

# -- notifications ---------------------------------------------------------------------------------

STATUS = "qwen/status"
PARTIAL_COMPLETION = "qwen/partialCompletion"


class ModelState(str, enum.Enum):
    """What `qwen/status` says about the model."""

    Disabled = "disabled"
    Loading = "loading"
    Ready = "ready"
    Error = "error"
    #: a remote server stopped answering (requests answer empty until it is back)
    Unavailable = "unavailable"


@attrs.define(frozen=True)
class StatusParams:
    """`qwen/status`: the model's state, for a status bar."""

    state: ModelState
    #: the model setting (a catalog name or a path) or the remote server's URL
    model: str
    message: str | None = None
    #: the latency of the last completion that was shown, in milliseconds
    last_latency_ms: float | None = None


@attrs.define(frozen=True)
class PartialCompletionParams:
    """`qwen/partialCompletion`: the whole text generated so far for the request at `position`
    (`done` on the last one)."""

    uri: str
    version: int | None
    position: types.Position
    text: str
    done: bool


# -- commands --------------------------------------------------------------------------------------

STATS = "qwen.stats"
EXPLAIN_CONTEXT = "qwen.explainContext"
LAST_PROMPT = "qwen.lastPrompt"
APPLY_FIX = "qwen.applyFix"


@attrs.define(frozen=True)
class StatsOptions:
    #: also return the last N requests' metrics (0..2000)
    recent: int | None = None


@attrs.define(frozen=True)
class StatsArguments:
    """`qwen.stats` `[]` or `[{"recent": N}]`."""

    options: StatsOptions | None = None


@attrs.define(frozen=True)
class ModelSummary:
    state: str
    message: str
    name: str | None = None
    path: str | None = None
    load_seconds: float | None = None


@attrs.define(frozen=True)
class StatsResult:
    """`qwen.stats`: the request summary (its keys are `Stats.summary`'s) plus the services' state."""

    model: ModelSummary
    summary: JsonObject = attrs.field(factory=dict)
    context: JsonObject | None = None
    jobs_started: dict[str, int] | None = None
    busy: bool | None = None
    idle_preempted: int | None = None
    recent: list[JsonObject] | None = None


@attrs.define(frozen=True)
class ExplainContextArguments:
    """`qwen.explainContext` `[uri, position]`."""

    uri: str
    position: types.Position


@attrs.define(frozen=True)
class ExplainContextResult:
    """`qwen.explainContext`: what would go into the prompt at that position. `report` holds the
    context engine's explanation (`context.explain.result_to_dict`: file, repo, budget split, ...)."""

    snippets: list[JsonObject] = attrs.field(factory=list)
    reason: str | None = None
    report: JsonObject = attrs.field(factory=dict)
    prompt_parts: dict[str, int] | None = None
    prompt_tokens: int | None = None


@attrs.define(frozen=True)
class LastPromptArguments:
    """`qwen.lastPrompt` takes no arguments."""


@attrs.define(frozen=True)
class LastPromptResult:
    """`qwen.lastPrompt`: the last completion prompt as text, special tokens written out (`prompt` is
    None before the first completion)."""

    prompt: str | None
    tokens: int | None = None
    parts: dict[str, int] | None = None


@attrs.define(frozen=True)
class FixData:
    """What a "Fix with Qwen" action carries (its `data`, and `qwen.applyFix`'s argument): the
    diagnostic, and the document version (or a hash of its text) the action was made for."""

    uri: str
    diagnostic: types.Diagnostic
    version: int | None = None
    hash: str | None = None


@attrs.define(frozen=True)
class ApplyFixArguments:
    """`qwen.applyFix` `[data]`."""

    data: FixData


@attrs.define(frozen=True)
class ApplyFixResult:
    applied: bool
    reason: str


# -- conversion ------------------------------------------------------------------------------------

#: Classes read from the wire (command arguments, code action data); their JSON names are the field
#: names (one word, or written by us in that form).
_ARGUMENTS: tuple[type, ...] = (
    StatsOptions,
    StatsArguments,
    ExplainContextArguments,
    LastPromptArguments,
    FixData,
    ApplyFixArguments,
)
#: Classes the server sends; snake_case fields go out in camelCase, `None` fields are left out.
_RESULTS: tuple[type, ...] = (
    StatusParams,
    PartialCompletionParams,
    ModelSummary,
    LastPromptResult,
    ApplyFixResult,
    FixData,
)
#: Results with a JSON object field whose keys are merged into the answer itself.
_FLATTENED: dict[type, str] = {StatsResult: "summary", ExplainContextResult: "report"}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.capitalize() for w in rest)


def _renames(cls: type) -> dict[str, Any]:
    return {
        f.name: override(rename=_camel(f.name), omit_if_default=f.default is None) for f in attrs.fields(cls)
    }


def _register(conv: cattrs.Converter) -> None:
    for cls in _ARGUMENTS:
        conv.register_structure_hook(cls, make_dict_structure_fn(cls, conv))
    for cls in _RESULTS:
        conv.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, conv, **_renames(cls)))
        if cls not in _ARGUMENTS:
            conv.register_structure_hook(cls, make_dict_structure_fn(cls, conv, **_renames(cls)))
    for cls, merged in _FLATTENED.items():
        _register_flattened(conv, cls, merged)


def _register_flattened(conv: cattrs.Converter, cls: type, merged: str) -> None:
    renames = _renames(cls)
    renames[merged] = override(omit=True)
    unstructure: Callable[[Any], JsonObject] = make_dict_unstructure_fn(cls, conv, **renames)
    structure: Callable[[JsonObject, type], Any] = make_dict_structure_fn(cls, conv, **renames)
    known = {_camel(f.name) for f in attrs.fields(cls) if f.name != merged}

    def to_json(obj: Any) -> JsonObject:
        return {**getattr(obj, merged), **unstructure(obj)}

    def from_json(data: JsonObject, _: type) -> Any:
        obj = structure(data, cls)
        return attrs.evolve(obj, **{merged: {k: v for k, v in data.items() if k not in known}})

    conv.register_unstructure_hook(cls, to_json)
    conv.register_structure_hook(cls, from_json)


def converter() -> cattrs.Converter:
    """pygls's converter (lsprotocol's types) that also knows this module's classes; the server
    serializes with it and the tests read answers with it."""
    conv = default_converter()
    _register(conv)
    return conv


CONVERTER = converter()

A = TypeVar("A")


def structure_arguments(
    cls: type[A], command: str, arguments: Sequence[object] | None, conv: cattrs.Converter = CONVERTER
) -> A:
    """A command's JSON argument array as its arguments class; InvalidParams naming the field."""
    fields = attrs.fields(cls)  # type: ignore[arg-type]
    given = list(arguments or ())
    names = ", ".join(f.name for f in fields) or "none"
    if len(given) > len(fields):
        raise JsonRpcInvalidParams(f"{command} takes {len(fields)} arguments ({names}), got {len(given)}")
    raw = {f.name: value for f, value in zip(fields, given, strict=False)}
    missing = [f.name for f in fields if f.name not in raw and f.default is attrs.NOTHING]
    if missing:
        raise JsonRpcInvalidParams(f"{command}: missing argument {missing[0]} (takes {names})")
    try:
        return conv.structure(raw, cls)
    except Exception as exc:  # cattrs' grouped errors: say which field, in JSON terms
        problems = cattrs.transform_error(exc, path="") if isinstance(exc, cattrs.BaseValidationError) else []
        detail = "; ".join(p.replace("@ $.", "@ ").replace("@ .", "@ ") for p in problems) or str(exc)
        raise JsonRpcInvalidParams(f"{command}: {detail}") from None
