"""Typed settings of the whole server, assembled from each package's own settings dataclass.

Sources, later ones winning: defaults < the command line < `initializationOptions` <
`workspace/configuration` (section `qwen`) < `workspace/didChangeConfiguration`. JSON keys are camelCase.
`load_settings` converts them once (`settings_util.from_mapping`, cattrs): a bad value falls back to its
default with one warning, never breaks the server. Each section is the dataclass of the package that
reads it (`completion` is `completion.CompletionSettings`, itself the prompt's and post-processing's
settings), so a new setting is one field there; `python -m qwen_ls.config --write-readme` regenerates
the README's reference from the `#:` comments.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from qwen_ls.completion import CompletionSettings
from qwen_ls.context.settings import ContextSettings
from qwen_ls.engine.llama import EngineSettings
from qwen_ls.engine.remote.settings import EngineKind, RemoteSettings
from qwen_ls.repair.settings import RepairSettings
from qwen_ls.settings_util import camel, from_mapping, to_mapping

#: The default completion model: a catalog name (see models/catalog.json) or a GGUF path.
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


@dataclass(frozen=True)
class EngineSection(EngineSettings):
    """The `engine` section: the embedded engine's own settings (inherited), which engine runs the
    model, and the shared server when it is not the embedded one."""

    #: "embedded" (llama.cpp in this process), "llama-server" or "openai" (an OpenAI-compatible server).
    kind: EngineKind = "embedded"
    remote: RemoteSettings = field(default_factory=RemoteSettings)

    def embedded(self) -> EngineSettings:
        """The embedded engine's settings alone (a changed `remote` value must not reload the model)."""
        return EngineSettings(**{f.name: getattr(self, f.name) for f in dataclasses.fields(EngineSettings)})


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
    """The `#:` comments above each field of a settings dataclass and of the settings classes it
    inherits fields from: the settings' documentation."""
    import inspect

    docs: dict[str, str] = {}
    for base in reversed(cls.__mro__[1:]):
        if dataclasses.is_dataclass(base):
            docs.update(_field_docs(base))
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
