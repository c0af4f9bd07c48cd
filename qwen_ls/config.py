"""Typed settings of the whole server, assembled from each package's own settings dataclass.

Sources, later ones winning: defaults < `initializationOptions` < `workspace/configuration` (section
`qwen`) < `workspace/didChangeConfiguration`. JSON keys are camelCase. A bad value falls back to its
default and is reported once (message and log), never breaks the server.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from qwen_ls.context.settings import ContextSettings
from qwen_ls.engine.llama import EngineSettings
from qwen_ls.prompt import PromptSettings
from qwen_ls.repair.settings import RepairSettings
from qwen_ls.settings_util import camel, from_mapping, to_mapping

#: The default completion model: a catalog name (see models/catalog.json) or a GGUF path.
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


@dataclass(frozen=True)
class RemoteSection:
    """A shared inference server instead of the embedded engine (`engine.kind` llama-server or openai)."""

    #: Base URL of the server, e.g. http://127.0.0.1:8080
    url: str = ""
    #: Model name sent to an OpenAI-compatible server.
    model: str = ""
    #: Name of the environment variable that holds the API key (never logged).
    api_key_env: str = "QWEN_LS_API_KEY"
    #: A file that holds the API key, as an alternative to the environment variable.
    api_key_file: str = ""
    #: A CA bundle for servers with a private certificate; TLS verification is always on.
    ca_bundle: str = ""
    #: Connect and first-byte timeout.
    timeout_ms: int = 5000
    #: Retries of a failed connection before any output, with backoff.
    retries: int = 2
    #: A GGUF (a vocab-only one is enough) for exact token budgets; else the server's tokenize endpoint.
    tokenizer_model: str = ""


@dataclass(frozen=True)
class EngineSection:
    #: "embedded" (llama.cpp in this process), "llama-server" or "openai" (an OpenAI-compatible server).
    kind: Literal["embedded", "llama-server", "openai"] = "embedded"
    #: Context window of the embedded engine in tokens (prompt + generated text).
    n_ctx: int = EngineSettings.n_ctx
    #: Prefill chunk in tokens; a cancelled request stops at the end of the chunk in progress.
    n_batch: int = EngineSettings.n_batch
    #: CPU threads for the embedded engine; 0 uses one per core (at most 8).
    threads: int = EngineSettings.threads
    #: Layers offloaded to the GPU (-1: all) when llama-cpp-python was built with GPU support.
    gpu_layers: int = EngineSettings.gpu_layers
    #: Flash attention in llama.cpp.
    flash_attention: Literal["auto", "on", "off"] = "auto"
    #: Reuse cached prompt chunks of at least this many tokens by shifting them (0: only the common prefix).
    cache_reuse: int = EngineSettings.cache_reuse
    remote: RemoteSection = field(default_factory=RemoteSection)

    def embedded(self) -> EngineSettings:
        return EngineSettings(
            n_ctx=self.n_ctx,
            n_batch=self.n_batch,
            threads=self.threads,
            gpu_layers=self.gpu_layers,
            flash_attention=self.flash_attention,
            cache_reuse=self.cache_reuse,
        )

    def validate(self) -> list[str]:
        problems = self.embedded().validate()
        if self.kind != "embedded" and not self.remote.url:
            problems.append(f"engine.kind is {self.kind!r} but engine.remote.url is empty")
        return problems


@dataclass(frozen=True)
class CompletionSettings:
    #: "auto": one line mid-expression, a block after a signature or in an empty body; "single" / "multi"
    #: force one. A cursor with code to its right always gets at most the rest of its line.
    mode: Literal["auto", "single", "multi"] = "auto"
    #: Most lines of a block completion (0: until the block ends).
    max_lines: int = 0
    #: Cut completions where the file stops parsing (tree-sitter: Python, JS/TS, Go, Rust, Java, C#, C, C++).
    syntax_aware: bool = True
    #: Most tokens generated for one completion.
    max_tokens: int = 64
    #: Generate at least this many tokens before post-processing may end a completion (benchmarks use it
    #: to fix the generated length; 0: stop as soon as the completion is complete).
    min_tokens: int = 0
    #: Tokens generated past a complete answer, in idle time, to have the completion that follows
    #: accepting it ready at once (0: off). Any real request preempts this work.
    prefetch_tokens: int = 48
    #: Answer by this many milliseconds after the request with the complete lines generated so far (0: none).
    deadline_ms: int = 3000
    #: Wait this long after a keystroke before generating; -1 adapts to the typing speed.
    debounce_ms: int = -1
    #: All prompt tokens together: repository context, text before and after the cursor, markers.
    max_prompt_tokens: int = PromptSettings.max_prompt_tokens
    #: Most tokens of text before the cursor (3/4 of what context leaves, up to this).
    prefix_tokens: int = PromptSettings.prefix_tokens
    #: Most tokens of text after the cursor; on a CPU each one is re-evaluated on every keystroke.
    suffix_tokens: int = PromptSettings.suffix_tokens
    #: Most tokens of repository context; it gets what the prefix and suffix leave, up to this.
    context_tokens: int = PromptSettings.context_tokens
    #: Documents larger than this many bytes get no completions.
    max_document_bytes: int = 2_000_000

    def prompt(self) -> PromptSettings:
        return PromptSettings(
            max_prompt_tokens=self.max_prompt_tokens,
            prefix_tokens=self.prefix_tokens,
            suffix_tokens=self.suffix_tokens,
            context_tokens=self.context_tokens,
        )

    def validate(self) -> list[str]:
        problems = self.prompt().validate()
        if self.max_tokens < 1:
            problems.append("maxTokens must be at least 1")
        return problems


@dataclass(frozen=True)
class Settings:
    #: Serve completions at all.
    enable: bool = True
    #: The completion model: a GGUF path or a catalog name (`qwen-ls models list`).
    model: str = DEFAULT_MODEL
    #: Allow downloading a named model that is not on disk (off: qwen-ls never touches the network).
    model_download: bool = False
    #: Send growing completions as `qwen/partialCompletion` notifications (clients that can show them).
    streaming: bool = False
    engine: EngineSection = field(default_factory=EngineSection)
    completion: CompletionSettings = field(default_factory=CompletionSettings)
    context: ContextSettings = field(default_factory=ContextSettings)
    repair: RepairSettings = field(default_factory=RepairSettings)


def load_settings(*layers: Mapping[str, Any] | None) -> tuple[Settings, list[str]]:
    """Merge setting layers (later wins, nested objects merged key by key) into typed Settings."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer:
            _deep_merge(merged, layer)
    return from_mapping(Settings, merged)


def _deep_merge(into: dict[str, Any], layer: Mapping[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        elif isinstance(value, Mapping):
            into[key] = {}
            _deep_merge(into[key], value)
        else:
            into[key] = value


def settings_to_json(settings: Settings) -> dict[str, Any]:
    return to_mapping(settings)


def _json_type(tp: Any) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        schema = _json_type(inner[0]) if len(inner) == 1 else {}
        t = schema.get("type")
        if t is not None and type(None) in args:
            schema["type"] = [t, "null"] if isinstance(t, str) else [*t, "null"]
        return schema
    if origin is Literal:
        return {"type": "string", "enum": list(args)}
    if origin in (tuple, list, frozenset, set):
        return {"type": "array", "items": _json_type(args[0]) if args else {}}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    return {}


def _field_docs(cls: type) -> dict[str, str]:
    """The `#:` comments above each field of a settings dataclass: the settings' documentation."""
    import inspect

    docs: dict[str, str] = {}
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return docs
    pending: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        name = stripped.split(":", 1)[0].strip()
        if pending and name.isidentifier() and ":" in stripped:
            docs[name] = " ".join(pending)
        pending = []
    return docs


def settings_schema() -> dict[str, dict[str, Any]]:
    """Every leaf setting as `dotted.camelCase.key -> {type, default, enum?}`: the single source that the
    README's reference and the editor extensions' contributed settings are checked against."""
    out: dict[str, dict[str, Any]] = {}

    def walk(cls: type, obj: Any, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        docs = _field_docs(cls)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            value = getattr(obj, f.name)
            key = prefix + camel(f.name)
            if dataclasses.is_dataclass(tp):
                walk(tp, value, key + ".")  # type: ignore[arg-type]
                continue
            entry = _json_type(tp)
            entry["default"] = list(value) if isinstance(value, (tuple, frozenset, set)) else value
            entry["description"] = docs.get(f.name, "")
            out[key] = entry

    walk(Settings, Settings(), "")
    return out


def settings_reference_markdown() -> str:
    """The README's configuration reference, generated from the settings dataclasses."""
    rows = ["| setting | type | default | what it does |", "|---|---|---|---|"]
    for key, entry in settings_schema().items():
        t = entry.get("type", "")
        t = "/".join(t) if isinstance(t, list) else t
        if "enum" in entry:
            t = " \\| ".join(f"`{v}`" for v in entry["enum"])
        default = json.dumps(entry["default"])
        desc = entry.get("description", "").replace("|", "\\|")
        rows.append(f"| `{key}` | {t} | `{default}` | {desc} |")
    return "\n".join(rows) + "\n"


def _write_readme(path: str = "README.md") -> None:
    from pathlib import Path

    p = Path(path)
    text = p.read_text()
    begin, end = "<!-- settings:begin -->\n", "<!-- settings:end -->"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    p.write_text(head + begin + settings_reference_markdown() + end + tail)


if __name__ == "__main__":
    import sys

    if "--write-readme" in sys.argv:
        _write_readme()
    else:
        print(json.dumps(settings_schema(), indent=2))
