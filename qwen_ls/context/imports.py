"""Imports of a file, and their resolution to workspace files.

Extraction is by regular expressions over the text (it must work on the half-typed code before the
cursor, where a parse may fail). Resolution follows each language's own rules as far as the workspace
shows them: Python packages and relative imports, JS/TS relative specifiers with extension and index
probing, tsconfig/jsconfig `paths` and `baseUrl` (and `@/`-style aliases to `src/`), Go packages through
`go.mod`, Rust `crate::`/`super::`/`mod`, Java fully qualified names (and wildcards), C# namespaces to
the files that declare them, C/C++ `#include` relative to the file, the roots, `include/`, or any
workspace path ending with it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Protocol

from qwen_ls import syntax


@dataclass(frozen=True)
class ImportRef:
    """One import statement: the module spec as written, and the names it binds in the file.

    Each binding is (local name, imported member or None); `import numpy as np` binds ("np", None),
    `from .a import b as c` binds ("c", "b").
    """

    spec: str
    bindings: tuple[tuple[str, str | None], ...]
    line: int
    kind: str = ""  # language-specific detail: "system" for C <...> includes, "static" for Java


class FileSet(Protocol):
    """The view of the workspace that resolution needs. Paths are absolute POSIX strings."""

    def exists(self, path: str) -> bool: ...

    def by_name(self, name: str) -> list[str]: ...

    def in_dir(self, directory: str) -> list[str]: ...

    def root_dirs(self) -> list[str]: ...

    def go_modules(self) -> list[tuple[str, str]]:
        """(module path, directory) of every go.mod in the workspace."""
        ...

    def in_namespace(self, namespace: str) -> list[str]:
        """Files that declare the (C#) namespace."""
        ...

    def js_aliases(self) -> list[tuple[str, str, list[str]]]:
        """(tsconfig folder, pattern, absolute targets) of every tsconfig/jsconfig `paths` entry."""
        ...

    def by_suffix_dir(self, tail: str) -> list[str]:
        """Files in the folders whose path ends with `tail` (one or more path segments)."""
        ...


# ---------------------------------------------------------------------------------------- extraction

_PY_FROM = re.compile(r"^[ \t]*from[ \t]+([.\w]+)[ \t]+import[ \t]+(\([^)]*\)?|[^\n#;]+)", re.MULTILINE)
_PY_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n#;]+)", re.MULTILINE)
_JS_FROM = re.compile(
    r"""(?:^|[;\n])[ \t]*(?:import|export)\b([^'";]*?)\bfrom[ \t]*['"]([^'"\n]+)['"]""", re.MULTILINE
)
_JS_BARE = re.compile(r"""(?:^|[;\n])[ \t]*import[ \t]*['"]([^'"\n]+)['"]""", re.MULTILINE)
_JS_REQUIRE = re.compile(
    r"""(?:(?:const|let|var)\s+([\w$]+|\{[^}]*\})\s*=\s*)?\b(?:require|import)\s*\(\s*['"]([^'"\n]+)['"]\s*\)"""
)
_GO_BLOCK = re.compile(r"^import[ \t]*\(([^)]*)\)", re.MULTILINE)
_GO_SINGLE = re.compile(r"""^import[ \t]+([\w.]+[ \t]+)?"([^"\n]+)\"""", re.MULTILINE)
_GO_SPEC = re.compile(r"""^[ \t]*([\w.]+[ \t]+)?"([^"\n]+)\"""", re.MULTILINE)
_RS_USE = re.compile(r"^[ \t]*(?:pub(?:\([^)]*\))?[ \t]+)?use[ \t]+([^;]+);", re.MULTILINE)
_RS_MOD = re.compile(r"^[ \t]*(?:pub(?:\([^)]*\))?[ \t]+)?mod[ \t]+(\w+)[ \t]*;", re.MULTILINE)
_JAVA_IMPORT = re.compile(r"^[ \t]*import[ \t]+(static[ \t]+)?([\w.]+(?:\.\*)?)[ \t]*;", re.MULTILINE)
_CS_USING = re.compile(
    r"^[ \t]*(?:global[ \t]+)?using[ \t]+(static[ \t]+)?(?:(\w+)[ \t]*=[ \t]*)?([\w.]+)[ \t]*;", re.MULTILINE
)
_C_INCLUDE = re.compile(r"""^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]""", re.MULTILINE)


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos)


def _py_names(raw: str) -> list[tuple[str, str | None]]:
    raw = raw.strip().strip("()").replace("\\\n", " ")
    out: list[tuple[str, str | None]] = []
    for part in raw.split(","):
        part = part.split("#")[0].strip()
        if not part or part == "*":
            continue
        m = re.match(r"([\w]+)(?:\s+as\s+(\w+))?$", part)
        if m:
            out.append((m.group(2) or m.group(1), m.group(1)))
    return out


def _python(text: str) -> list[ImportRef]:
    refs: list[ImportRef] = []
    for m in _PY_FROM.finditer(text):
        refs.append(ImportRef(m.group(1), tuple(_py_names(m.group(2))), _line(text, m.start())))
    for m in _PY_IMPORT.finditer(text):
        for part in m.group(1).split(","):
            pm = re.match(r"\s*([\w.]+)(?:\s+as\s+(\w+))?\s*$", part)
            if pm:
                module = pm.group(1)
                local = pm.group(2) or module.split(".")[0]
                refs.append(ImportRef(module, ((local, None),), _line(text, m.start())))
    return refs


def _js_names(clause: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    clause = clause.replace("type ", " ").strip()
    brace = re.search(r"\{([^}]*)\}", clause)
    if brace:
        for part in brace.group(1).split(","):
            pm = re.match(r"\s*([\w$]+)(?:\s+as\s+([\w$]+))?\s*$", part)
            if pm:
                out.append((pm.group(2) or pm.group(1), pm.group(1)))
        clause = clause[: brace.start()] + clause[brace.end() :]
    star = re.search(r"\*\s*as\s+([\w$]+)", clause)
    if star:
        out.append((star.group(1), None))
        clause = clause[: star.start()] + clause[star.end() :]
    default = re.match(r"\s*([\w$]+)", clause)
    if default and default.group(1) not in ("type", "typeof"):
        out.append((default.group(1), "default"))
    return out


def _javascript(text: str) -> list[ImportRef]:
    refs = [
        ImportRef(m.group(2), tuple(_js_names(m.group(1))), _line(text, m.start()))
        for m in _JS_FROM.finditer(text)
    ]
    refs += [ImportRef(m.group(1), (), _line(text, m.start())) for m in _JS_BARE.finditer(text)]
    for m in _JS_REQUIRE.finditer(text):
        binding = m.group(1)
        names: list[tuple[str, str | None]] = []
        if binding and binding.startswith("{"):
            names = _js_names(binding)
        elif binding:
            names = [(binding, None)]
        refs.append(ImportRef(m.group(2), tuple(names), _line(text, m.start())))
    return refs


def _go(text: str) -> list[ImportRef]:
    refs: list[ImportRef] = []
    for m in _GO_BLOCK.finditer(text):
        base = _line(text, m.start(1))
        for sm in _GO_SPEC.finditer(m.group(1)):
            alias = (sm.group(1) or "").strip()
            path = sm.group(2)
            local = alias or path.rsplit("/", 1)[-1]
            refs.append(ImportRef(path, ((local, None),), base + m.group(1).count("\n", 0, sm.start())))
    for m in _GO_SINGLE.finditer(text):
        alias = (m.group(1) or "").strip()
        refs.append(
            ImportRef(m.group(2), ((alias or m.group(2).rsplit("/", 1)[-1], None),), _line(text, m.start()))
        )
    return refs


def _rust_use_paths(tree: str, prefix: str = "") -> list[tuple[str, str]]:
    """Flatten `a::{b, c::d as e}` into (path, local name) pairs."""
    tree = tree.strip()
    out: list[tuple[str, str]] = []
    brace = tree.find("{")
    if brace >= 0 and tree.endswith("}"):
        head = tree[:brace].rstrip(":").strip()
        base = f"{prefix}::{head}" if prefix and head else (head or prefix)
        depth = 0
        start = brace + 1
        for i in range(brace + 1, len(tree) - 1):
            ch = tree[i]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                out += _rust_use_paths(tree[start:i], base)
                start = i + 1
        out += _rust_use_paths(tree[start : len(tree) - 1], base)
        return out
    m = re.match(r"([\w:]+?)(?:::\*)?(?:\s+as\s+(\w+))?$", tree)
    if not m:
        return out
    path = f"{prefix}::{m.group(1)}" if prefix else m.group(1)
    if m.group(1) == "self":
        path = prefix
    local = m.group(2) or path.rsplit("::", 1)[-1]
    out.append((path, local))
    return out


def _rust(text: str) -> list[ImportRef]:
    refs: list[ImportRef] = []
    for m in _RS_USE.finditer(text):
        for path, local in _rust_use_paths(re.sub(r"\s+", " ", m.group(1))):
            refs.append(ImportRef(path, ((local, path.rsplit("::", 1)[-1]),), _line(text, m.start())))
    for m in _RS_MOD.finditer(text):
        refs.append(ImportRef(m.group(1), ((m.group(1), None),), _line(text, m.start()), kind="mod"))
    return refs


def _java(text: str) -> list[ImportRef]:
    refs: list[ImportRef] = []
    for m in _JAVA_IMPORT.finditer(text):
        spec = m.group(2)
        last = spec.rsplit(".", 1)[-1]
        bindings = () if last == "*" else ((last, last),)
        refs.append(ImportRef(spec, bindings, _line(text, m.start()), kind="static" if m.group(1) else ""))
    return refs


def _csharp(text: str) -> list[ImportRef]:
    refs: list[ImportRef] = []
    for m in _CS_USING.finditer(text):
        spec = m.group(3)
        alias = m.group(2)
        bindings = ((alias, spec.rsplit(".", 1)[-1]),) if alias else ()
        refs.append(ImportRef(spec, bindings, _line(text, m.start()), kind="static" if m.group(1) else ""))
    return refs


_CS_NAMESPACE = re.compile(r"^[ \t]*namespace[ \t]+([\w.]+)", re.MULTILINE)


def declared_namespaces(text: str, language: str | None) -> tuple[str, ...]:
    """Namespaces a file declares (C#: `namespace A.B {` or file-scoped `namespace A.B;`)."""
    if syntax.family(language) != "csharp":
        return ()
    return tuple(dict.fromkeys(_CS_NAMESPACE.findall(text)))


def _c(text: str) -> list[ImportRef]:
    return [
        ImportRef(m.group(2).strip(), (), _line(text, m.start()), kind="system" if m.group(1) == "<" else "")
        for m in _C_INCLUDE.finditer(text)
    ]


_EXTRACTORS = {
    "python": _python,
    "javascript": _javascript,
    "typescript": _javascript,
    "go": _go,
    "rust": _rust,
    "java": _java,
    "csharp": _csharp,
    "c": _c,
    "cpp": _c,
}


def extract_imports(text: str, language: str | None) -> list[ImportRef]:
    """The imports written in `text` (in order of kind, then position)."""
    fn = _EXTRACTORS.get(syntax.family(language) or "")
    return fn(text) if fn else []


# ---------------------------------------------------------------------------------------- resolution

_JS_EXTS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")


def _closest(candidates: list[str], current: str) -> list[str]:
    """Candidates sorted by how much of the path they share with the current file."""

    def shared(p: str) -> int:
        return len(posixpath.commonprefix([p, current]).rsplit("/", 1)[0])

    return sorted(set(candidates), key=lambda p: (-shared(p), len(p), p))


def _by_suffix(files: FileSet, suffix: str) -> list[str]:
    name = suffix.rsplit("/", 1)[-1]
    return [p for p in files.by_name(name) if p == suffix or p.endswith("/" + suffix)]


def _python_module(files: FileSet, current: str, spec: str) -> list[str]:
    dots = len(spec) - len(spec.lstrip("."))
    parts = [p for p in spec.lstrip(".").split(".") if p]
    if dots:
        base = posixpath.dirname(current)
        for _ in range(dots - 1):
            base = posixpath.dirname(base)
        joined = posixpath.join(base, *parts) if parts else base
        out = [c for c in (joined + ".py", joined + ".pyi", joined + "/__init__.py") if files.exists(c)]
        return out[:1]
    if not parts:
        return []
    rel = "/".join(parts)
    found = (
        _by_suffix(files, rel + ".py")
        + _by_suffix(files, rel + "/__init__.py")
        + _by_suffix(files, rel + ".pyi")
    )
    return _closest(found, current)[:1]


def _resolve_python(files: FileSet, current: str, ref: ImportRef) -> list[tuple[str | None, str]]:
    out: list[tuple[str | None, str]] = []
    module = _python_module(files, current, ref.spec)
    for local, member in ref.bindings:
        if member is not None:
            sub_spec = ref.spec + ("" if ref.spec.endswith(".") else ".") + member
            sub = _python_module(files, current, sub_spec)
            if sub:
                out.append((local, sub[0]))
                continue
        if module:
            out.append((local, module[0]))
    if module and not out:
        out.append((None, module[0]))
    return out


def _resolve_js(files: FileSet, current: str, ref: ImportRef) -> list[str]:
    spec = ref.spec.split("?")[0]
    bases: list[str] = []
    if spec.startswith("."):
        bases.append(posixpath.normpath(posixpath.join(posixpath.dirname(current), spec)))
    else:
        bases += _js_alias_bases(files, current, spec)
        stripped = spec[2:] if spec.startswith(("@/", "~/")) else spec
        for root in files.root_dirs():
            for sub in ("src", "", "app", "lib"):
                bases.append(posixpath.normpath(posixpath.join(root, sub, stripped)))
    for base in bases:
        stem, ext = posixpath.splitext(base)
        candidates = [base] if ext in _JS_EXTS else []
        if ext in (".js", ".jsx", ".mjs", ".cjs"):
            candidates += [stem + e for e in (".ts", ".tsx", ".mts", ".cts")]
        candidates += [base + e for e in _JS_EXTS] + [base + "/index" + e for e in _JS_EXTS]
        for c in candidates:
            if files.exists(c):
                return [c]
    return []


def _js_alias_bases(files: FileSet, current: str, spec: str) -> list[str]:
    """Where tsconfig `paths` of the nearest config above the current file send a bare specifier."""
    configs = [row for row in files.js_aliases() if current.startswith(row[0].rstrip("/") + "/")]
    if not configs:
        return []
    nearest = max(len(d) for d, _, _ in configs)
    out: list[str] = []
    for d, pattern, targets in configs:
        if len(d) != nearest:
            continue
        if pattern.endswith("*") and spec.startswith(pattern[:-1]):
            rest = spec[len(pattern) - 1 :]
            out += [t.replace("*", rest, 1) for t in targets]
        elif pattern == spec:
            out += targets
    return out


def _resolve_go(files: FileSet, current: str, ref: ImportRef) -> list[str]:
    directory: str | None = None
    for module, mod_dir in sorted(files.go_modules(), key=lambda m: -len(m[0])):
        if ref.spec == module or ref.spec.startswith(module + "/"):
            directory = posixpath.join(mod_dir, ref.spec[len(module) :].lstrip("/"))
            break
    candidates: list[str] = []
    if directory is not None:
        candidates = files.in_dir(directory.rstrip("/"))
    else:
        segs = ref.spec.split("/")
        for n in range(min(3, len(segs)), 0, -1):  # no go.mod: the longest tail naming a workspace dir
            tail = "/".join(segs[-n:])
            for root in files.root_dirs():
                candidates = files.in_dir(posixpath.join(root, tail))
                if candidates:
                    break
            if candidates:
                break
    return sorted(p for p in candidates if p.endswith(".go") and not p.endswith("_test.go") and p != current)


def _rust_crate_src(files: FileSet, current: str) -> str:
    d = posixpath.dirname(current)
    while True:
        has_root = files.exists(posixpath.join(d, "lib.rs")) or files.exists(posixpath.join(d, "main.rs"))
        parent_lib = files.exists(posixpath.join(posixpath.dirname(d), "lib.rs"))
        if has_root and (posixpath.basename(d) == "src" or not parent_lib):
            return d
        parent = posixpath.dirname(d)
        if parent == d or posixpath.basename(d) == "src":
            return d
        d = parent


def _rust_module_dir(current: str) -> str:
    """Directory holding the child modules of the module defined by `current`."""
    name = posixpath.basename(current)
    if name in ("mod.rs", "lib.rs", "main.rs"):
        return posixpath.dirname(current)
    return posixpath.splitext(current)[0]


def _rust_probe(files: FileSet, base: str, segs: list[str]) -> list[str]:
    for n in range(len(segs), 0, -1):
        stem = posixpath.join(base, *segs[:n])
        for c in (stem + ".rs", stem + "/mod.rs"):
            if files.exists(c):
                return [c]
    return []


def _resolve_rust(files: FileSet, current: str, ref: ImportRef) -> list[str]:
    if ref.kind == "mod":
        return _rust_probe(files, _rust_module_dir(current), [ref.spec])
    segs = [s for s in ref.spec.split("::") if s]
    if not segs:
        return []
    if segs[0] == "crate":
        return _rust_probe(files, _rust_crate_src(files, current), segs[1:])
    if segs[0] in ("self", "super"):
        base = _rust_module_dir(current)
        while segs and segs[0] in ("self", "super"):
            if segs[0] == "super":
                base = posixpath.dirname(base)
            segs = segs[1:]
        if not segs:
            return []
        return _rust_probe(files, base, segs)
    # 2015-style paths, or a workspace crate: try the crate root, then a sibling crate's src
    found = _rust_probe(files, _rust_crate_src(files, current), segs)
    if found:
        return found
    for root in files.root_dirs():
        for crate in (segs[0], segs[0].replace("_", "-")):
            src = posixpath.join(root, crate, "src")
            found = _rust_probe(files, src, segs[1:]) if len(segs) > 1 else []
            if not found:
                found = [c for c in (src + "/lib.rs",) if files.exists(c)]
            if found:
                return found
    return []


def _resolve_java(files: FileSet, current: str, ref: ImportRef) -> list[str]:
    parts = ref.spec.split(".")
    if parts[-1] == "*":
        rel = "/".join(parts[:-1])
        dirs = {posixpath.dirname(p) for p in _by_suffix(files, rel + "/" + "package-info.java")}
        found: list[str] = []
        for root in files.root_dirs():
            for src in ("", "src/main/java", "src", "src/test/java", "app/src/main/java"):
                d = posixpath.join(root, src, rel)
                found += [p for p in files.in_dir(d) if p.endswith(".java")]
        for d in dirs:
            found += [p for p in files.in_dir(d) if p.endswith(".java")]
        return sorted(set(found))[:8]
    for n in range(len(parts), 1, -1):  # static imports and nested classes: drop trailing members
        found = _by_suffix(files, "/".join(parts[:n]) + ".java")
        if found:
            return _closest(found, current)[:1]
    return []


#: Namespaces of the platform and common frameworks: never workspace code.
_CS_EXTERNAL = frozenset(
    {"System", "Microsoft", "UnityEngine", "UnityEditor", "Newtonsoft", "Xunit", "NUnit"}
)


def _resolve_csharp(files: FileSet, current: str, ref: ImportRef) -> list[str]:
    """C# imports namespaces, not files: the files that declare the namespace (closest first); for a
    `using static` or an alias of a type, the file named after the type. Without a declaring file,
    the folder that mirrors the namespace (`Acme.Core.Models` in `.../Core/Models/`)."""
    parts = ref.spec.split(".")
    if parts[0] in _CS_EXTERNAL:
        return []
    if ref.kind == "static" or ref.bindings:
        found = _by_suffix(files, parts[-1] + ".cs")
        if found:
            return _closest(found, current)[:1]
        parts = parts[:-1]  # an alias of a type in a namespace: fall back to its namespace
    found = files.in_namespace(".".join(parts))
    if not found:
        for n in range(len(parts), 0, -1):
            tail = "/".join(parts[-n:])
            found = [p for p in files.by_suffix_dir(tail) if p.endswith(".cs")]
            if found or n <= max(1, len(parts) - 2):
                break
    return _closest(found, current)[:8]


def _resolve_c(files: FileSet, current: str, ref: ImportRef) -> list[str]:
    spec = ref.spec
    candidates = [posixpath.normpath(posixpath.join(posixpath.dirname(current), spec))]
    for root in files.root_dirs():
        candidates += [
            posixpath.join(root, spec),
            posixpath.join(root, "include", spec),
            posixpath.join(root, "src", spec),
        ]
    for c in candidates:
        if files.exists(c):
            return [c]
    found = _by_suffix(files, spec.lstrip("./"))
    return _closest(found, current)[:1]


def resolve_import(
    files: FileSet, current: str, ref: ImportRef, language: str | None
) -> list[tuple[str | None, str]]:
    """Workspace files an import points to, each with the local name bound to it (None when the
    import binds nothing specific, e.g. a C include)."""
    fam = syntax.family(language)
    if fam == "python":
        return [(local, p) for local, p in _resolve_python(files, current, ref) if p != current]
    if fam in ("javascript", "typescript"):
        paths = _resolve_js(files, current, ref)
    elif fam == "go":
        paths = _resolve_go(files, current, ref)
    elif fam == "rust":
        paths = _resolve_rust(files, current, ref)
    elif fam == "java":
        paths = _resolve_java(files, current, ref)
    elif fam == "csharp":
        paths = _resolve_csharp(files, current, ref)
    elif fam in ("c", "cpp"):
        paths = _resolve_c(files, current, ref)
    else:
        return []
    locals_: list[str | None] = [local for local, _ in ref.bindings] or [None]
    return [(local, p) for p in paths if p != current for local in locals_]
