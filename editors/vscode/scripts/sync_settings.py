"""Keep the VS Code extension's contributed settings equal to the server's settings.

The server's `qwen_ls.config.settings_schema()` lists every leaf setting (dotted camelCase key -> type,
default, enum); the descriptions come from the `#:` comments on the settings dataclasses. This script
writes them into `editors/vscode/package.json` (`--write`) or reports any difference (`--check`, exit 1).
Settings only the extension reads (serverPath, serverArgs, trace.server) are kept as they are.

Run with the project's Python: `.venv/bin/python editors/vscode/scripts/sync_settings.py --check`.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
import sys
import typing
from pathlib import Path
from typing import Any

PACKAGE_JSON = Path(__file__).resolve().parent.parent / "package.json"
REPO_ROOT = Path(__file__).resolve().parents[3]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
PREFIX = "qwen."
CLIENT_ONLY = ("serverPath", "serverArgs", "trace.server")
#: Schema fields compared by --check (descriptions may be reworded freely).
COMPARED = ("type", "default", "enum", "items")

_FIELD = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*:")


def _comment_docs(cls: type) -> dict[str, str]:
    """`#:` comments above each field of a class, by snake_case field name."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    pending: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = _FIELD.match(line)
        if match and pending:
            docs[match.group(1)] = " ".join(pending)
        pending = []
    return docs


def _docs_by_key(root: type, extra_classes: list[type]) -> dict[str, str]:
    """Descriptions by dotted camelCase key; fields without a comment borrow one from a same-named
    field of the classes they delegate to (EngineSettings, PromptSettings)."""
    from qwen_ls.settings_util import camel

    borrowed: dict[str, str] = {}
    for cls in extra_classes:
        for name, doc in _comment_docs(cls).items():
            borrowed.setdefault(name, doc)
    out: dict[str, str] = {}

    def walk(cls: type, prefix: str) -> None:
        own = _comment_docs(cls)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            key = prefix + camel(f.name)
            if dataclasses.is_dataclass(tp):
                walk(tp, key + ".")  # type: ignore[arg-type]
                continue
            doc = own.get(f.name) or borrowed.get(f.name)
            if doc:
                out[key] = doc

    walk(root, "")
    return out


def server_properties() -> dict[str, dict[str, Any]]:
    """The `contributes.configuration.properties` entries for every server setting."""
    from qwen_ls import config

    extra: list[type] = []
    for module_name, class_name in (
        ("qwen_ls.engine.llama", "EngineSettings"),
        ("qwen_ls.prompt", "PromptSettings"),
    ):
        try:
            module = __import__(module_name, fromlist=[class_name])
            extra.append(getattr(module, class_name))
        except (ImportError, AttributeError):
            pass
    docs = _docs_by_key(config.Settings, extra)
    props: dict[str, dict[str, Any]] = {}
    for key, schema in config.settings_schema().items():
        entry: dict[str, Any] = {k: schema[k] for k in COMPARED if k in schema}
        entry["description"] = docs.get(key) or f"qwen-ls server setting `{key}` (see the qwen-ls README)."
        props[PREFIX + key] = entry
    return props


def merged_package(package: dict[str, Any], server: dict[str, dict[str, Any]]) -> dict[str, Any]:
    props = package["contributes"]["configuration"]["properties"]
    client = {PREFIX + k: props[PREFIX + k] for k in CLIENT_ONLY if PREFIX + k in props}
    package["contributes"]["configuration"]["properties"] = {**client, **server}
    return package


def differences(package: dict[str, Any], server: dict[str, dict[str, Any]]) -> list[str]:
    props: dict[str, dict[str, Any]] = package["contributes"]["configuration"]["properties"]
    ours = {k: v for k, v in props.items() if k[len(PREFIX) :] not in CLIENT_ONLY}
    problems = [f"{k}: in package.json, not a server setting" for k in sorted(set(ours) - set(server))]
    problems += [f"{k}: server setting missing from package.json" for k in sorted(set(server) - set(ours))]
    for key in sorted(set(ours) & set(server)):
        for field in COMPARED:
            if ours[key].get(field) != server[key].get(field):
                mine, theirs = ours[key].get(field), server[key].get(field)
                problems.append(f"{key}.{field}: package.json {mine!r} != server {theirs!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 when package.json differs from the server")
    mode.add_argument("--write", action="store_true", help="rewrite package.json's server settings")
    parser.add_argument("--package-json", type=Path, default=PACKAGE_JSON)
    args = parser.parse_args(argv)
    from qwen_ls import config

    if not hasattr(config, "settings_schema"):
        print("skipped: qwen_ls.config.settings_schema() does not exist yet", file=sys.stderr)
        return 0
    server = server_properties()
    package = json.loads(args.package_json.read_text(encoding="utf-8"))
    if args.write:
        merged = merged_package(package, server)
        args.package_json.write_text(
            json.dumps(merged, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        print(f"wrote {len(server)} server settings to {args.package_json}")
        return 0
    problems = differences(package, server)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"run: python {Path(__file__).as_posix()} --write", file=sys.stderr)
        return 1
    print(f"ok: {len(server)} server settings match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
