"""Turning loose JSON settings (initializationOptions, workspace/configuration) into typed dataclasses.

Each package keeps its own frozen settings dataclass with defaults; `from_mapping` fills one from a dict,
accepting camelCase or snake_case keys, and returns the warnings for values it had to ignore, so that a
bad value falls back to its default and is reported once instead of breaking the server.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _coerce(value: Any, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg)
            except (TypeError, ValueError) as exc:
                errors.append(exc)
        raise ValueError(f"{value!r} is not a valid value")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ValueError(f"{value!r} is not one of {', '.join(map(repr, args))}")
    if origin in (tuple, list, frozenset, set):
        if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
            raise TypeError(f"{value!r} is not a list")
        item = args[0] if args else Any
        items = [_coerce(v, item) for v in value]
        return origin(items) if origin is not tuple else tuple(items)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise TypeError(f"{value!r} is not an object")
        return dict(value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, Mapping):
            raise TypeError(f"{value!r} is not an object")
        obj, warnings = from_mapping(tp, value)
        if warnings:
            raise ValueError("; ".join(warnings))
        return obj
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise TypeError(f"{value!r} is not true/false")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise TypeError(f"{value!r} is not an integer")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{value!r} is not a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise TypeError(f"{value!r} is not a string")
        return value
    return value


def from_mapping(cls: type[T], data: Mapping[str, Any] | None, prefix: str = "") -> tuple[T, list[str]]:
    """Build `cls` (a dataclass) from `data`; unknown keys and bad values become warnings."""
    warnings: list[str] = []
    if data is None:
        return cls(), warnings
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        name = snake(key)
        if name not in fields:
            warnings.append(f"unknown setting {prefix}{key!r} ignored")
            continue
        tp = hints[name]
        if dataclasses.is_dataclass(tp) and isinstance(tp, type) and isinstance(value, Mapping):
            sub, sub_warnings = from_mapping(tp, value, prefix=f"{prefix}{camel(name)}.")
            kwargs[name] = sub
            warnings.extend(sub_warnings)
            continue
        try:
            kwargs[name] = _coerce(value, tp)
        except (TypeError, ValueError) as exc:
            warnings.append(f"setting {prefix}{camel(name)}: {exc}; using the default")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        for problem in validate():
            warnings.append(f"{prefix.rstrip('.') or 'settings'}: {problem}")
    return obj, warnings


def to_mapping(obj: Any) -> dict[str, Any]:
    """camelCase JSON form of a settings dataclass (for docs, `qwen.stats` and editor manifests)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            value = to_mapping(value)
        elif isinstance(value, (tuple, frozenset, set)):
            value = list(value)
        out[camel(f.name)] = value
    return out
