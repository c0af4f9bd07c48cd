"""Turning the editor's camelCase JSON settings into typed dataclasses: once, with per-field warnings.

Each package keeps its own frozen settings dataclass with defaults, and may list what is wrong with a
value in a `validate()` method (`Validated`); `config.Settings` nests them. `from_mapping` converts a JSON
object into one of them:

- cattrs structures every value, strictly (no "5" for 5, no 3.7 for 3, no string for a list);
- keys may be camelCase (as editors send them) or snake_case; unknown keys are reported and ignored;
- a value that cannot be converted, or that `validate()` finds fault with, is reported once and falls
  back to its default, so a bad setting never breaks the server and never silently stays in force.

A problem `validate()` reports is charged to the field whose default makes it go away; one that no single
field can be blamed for is reported and the values are kept.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from collections.abc import Mapping
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

import cattrs

T = TypeVar("T")


@runtime_checkable
class Validated(Protocol):
    """A settings dataclass that can say what is wrong with its values (empty list: nothing)."""

    def validate(self) -> list[str]: ...


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _strict_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise TypeError(f"{value!r} is not an integer")
    return int(value)


def _strict_float(value: Any, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _strict_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{value!r} is not true/false")
    return value


def _strict_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


def _is_literal(tp: Any) -> bool:
    return typing.get_origin(tp) is Literal


def _literal(value: Any, tp: Any) -> Any:
    choices = typing.get_args(tp)
    if value in choices and not isinstance(value, bool):
        return value
    raise ValueError(f"{value!r} is not one of {', '.join(map(repr, choices))}")


def _is_sequence(tp: Any) -> bool:
    return typing.get_origin(tp) in (tuple, list, frozenset, set)


def _sequence(value: Any, tp: Any) -> Any:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{value!r} is not a list")
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not Ellipsis]
    items = [converter.structure(v, args[0]) if args else v for v in value]
    return tuple(items) if origin is tuple else origin(items)


#: The one converter of settings values (leaf values; dataclasses are walked by `from_mapping`).
converter = cattrs.Converter()
converter.register_structure_hook(int, _strict_int)
converter.register_structure_hook(float, _strict_float)
converter.register_structure_hook(bool, _strict_bool)
converter.register_structure_hook(str, _strict_str)
converter.register_structure_hook_func(_is_literal, _literal)
converter.register_structure_hook_func(_is_sequence, _sequence)


def _why(exc: BaseException) -> str:
    """The innermost readable reason of a conversion failure (cattrs wraps them in groups)."""
    while isinstance(exc, cattrs.BaseValidationError) and exc.exceptions:
        exc = exc.exceptions[0]
    return str(exc) or exc.__class__.__name__


def _shown(value: Any) -> str:
    try:
        return json.dumps(list(value) if isinstance(value, (tuple, frozenset, set)) else value)
    except (TypeError, ValueError):
        return repr(value)


def _is_settings(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def from_mapping(cls: type[T], data: Mapping[str, Any] | None, prefix: str = "") -> tuple[T, list[str]]:
    """Build `cls` (a settings dataclass) from `data`; each bad value is one warning and its default."""
    warnings: list[str] = []
    if data is None:
        return cls(), warnings
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    defaults = cls()
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        name = snake(key)
        if name not in names:
            warnings.append(f"unknown setting {prefix}{key!r} ignored")
            continue
        tp, label = hints[name], prefix + camel(name)
        if _is_settings(tp):
            if isinstance(value, Mapping):
                kwargs[name], inner = from_mapping(tp, value, prefix=label + ".")
                warnings.extend(inner)
            else:
                warnings.append(f"setting {label}: {value!r} is not an object; using the defaults")
            continue
        try:
            kwargs[name] = converter.structure(value, tp)
        except Exception as exc:
            default = _shown(getattr(defaults, name))
            warnings.append(f"setting {label}: {_why(exc)}; using the default {default}")
    obj = cls(**kwargs)
    return _fall_back_invalid(obj, defaults, list(kwargs), hints, prefix, warnings), warnings


def _problems(obj: object) -> set[str]:
    return set(obj.validate()) if isinstance(obj, Validated) else set()


def _fall_back_invalid(
    obj: T, defaults: T, given: list[str], hints: dict[str, Any], prefix: str, warnings: list[str]
) -> T:
    """Reset each given value that `validate()` blames to its default, with one warning per value.

    A value is to blame for a problem when its default makes the problem go away. A problem that no
    single value answers for (two values wrong together) is charged to the given values it names.
    """
    leaves = [name for name in given if not _is_settings(hints[name])]  # sections validated themselves
    problems = _problems(obj)

    def reset(names: list[str], why: str) -> None:
        nonlocal obj, problems
        for name in names:
            value, fallback = _shown(getattr(obj, name)), _shown(getattr(defaults, name))
            warnings.append(
                f"setting {prefix}{camel(name)}: {value} is invalid ({why}); using the default {fallback}"
            )
        obj = dataclasses.replace(obj, **{n: getattr(defaults, n) for n in names})  # type: ignore[type-var]
        problems = _problems(obj)

    for name in leaves:
        if not problems:
            break
        left = _problems(dataclasses.replace(obj, **{name: getattr(defaults, name)}))  # type: ignore[type-var]
        if left < problems:
            reset([name], "; ".join(sorted(problems - left)))
    for problem in sorted(problems):
        if problem not in problems:
            continue  # a reset for an earlier problem answered this one too
        named = [
            n
            for n in leaves
            if re.search(rf"\b{camel(n)}\b", problem) and getattr(obj, n) != getattr(defaults, n)
        ]
        candidate = dataclasses.replace(obj, **{n: getattr(defaults, n) for n in named})  # type: ignore[type-var]
        if named and problem not in _problems(candidate):
            reset(named, problem)
        else:
            warnings.append(f"{prefix.rstrip('.') or 'settings'}: {problem}")
    return obj


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
