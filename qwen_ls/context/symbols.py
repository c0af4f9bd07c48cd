"""Symbol tables from a tree-sitter parse, and the identifier tokenizer (outlines: `outline.py`).

Only the shallow levels of a file are walked (module, class/impl/namespace bodies, and `__init__`-style
constructors for attributes), which is where definitions live; that keeps a 2,000-file index build in
seconds. A language without a grammar gets no definitions, only identifiers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from qwen_ls import syntax
from qwen_ls.context.keywords import KEYWORDS, STOPWORDS

IDENT_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


_C_PREPROCESSOR = re.compile(r"#[ \t]*(include|define|undef|if|ifdef|ifndef|else|elif|endif|pragma|import)\b")


def header_comment_lines(lines: list[str]) -> int:
    """How many lines the comment block at the top of a file takes (a licence, as a rule), blank
    lines around it included; 0 when the file starts with code."""
    n = 0
    in_block = False
    seen_comment = False
    for line in lines[:400]:
        stripped = line.strip()
        if in_block:
            n += 1
            if "*/" in stripped:
                in_block = False
            continue
        if not stripped:
            n += 1
            continue
        if stripped.startswith("/*"):
            in_block = "*/" not in stripped[2:]
        elif not stripped.startswith(("//", "#")) or _C_PREPROCESSOR.match(stripped):
            break
        seen_comment = True
        n += 1
    return n if seen_comment else 0


_C_COMMENTS = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|//[^\n]*|/\*.*?\*/', re.DOTALL)
_HASH_COMMENTS = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|#[^\n]*')
_HASH_LANGUAGES = frozenset({"python", "ruby", "shellscript", "perl", "r", "yaml", "toml"})


def code_only(text: str, language: str | None) -> str:
    """The text with its comments blanked (line breaks kept, so line numbers stay): what similarity
    search should match on. Comments repeat boilerplate (banners, licences, doc templates) across
    files, and their prose is not the code being written."""
    pattern = _HASH_COMMENTS if language in _HASH_LANGUAGES else _C_COMMENTS

    def blank(m: re.Match[str]) -> str:
        found = m.group(0)
        if found[0] in "\"'":
            return found
        return "\n" * found.count("\n")

    return pattern.sub(blank, text)


def identifiers(text: str) -> list[str]:
    """Identifier tokens of `text` (keywords and one-letter names dropped)."""
    return [t for t in IDENT_RE.findall(text) if len(t) > 1 and t not in STOPWORDS]


_CPP_HINTS = re.compile(
    r"^\s*(namespace\b|template\s*<|class\s+\w+[^;]*\{|public:|private:|using\s+\w+\s*=)|\w::\w", re.MULTILINE
)


def file_language(path: str, text: str | None = None) -> str | None:
    """The language of a file from its extension; a `.h` header written in C++ is C++."""
    language = syntax.language_for_path(path)
    if language == "c" and path.endswith(".h") and text is not None and _CPP_HINTS.search(text[:200_000]):
        return "cpp"
    return language


@dataclass(frozen=True, slots=True)
class Definition:
    """A named definition. Lines are 0-based and inclusive; `body_line` is where the body starts
    (the header is `start_line .. body_line`), equal to `start_line` for one-line definitions."""

    name: str
    kind: str  # function | class | impl | variable | attribute | field | type | macro | module
    start_line: int
    end_line: int
    body_line: int
    body_col: int
    depth: int
    container: str | None = None


# Per language: node type -> kind, for nodes that define their `name` field.
_NAMED: dict[str, dict[str, str]] = {
    "python": {"function_definition": "function", "class_definition": "class"},
    "javascript": {
        "function_declaration": "function",
        "generator_function_declaration": "function",
        "class_declaration": "class",
        "method_definition": "function",
        "field_definition": "field",
    },
    "typescript": {
        "function_declaration": "function",
        "generator_function_declaration": "function",
        "function_signature": "function",
        "class_declaration": "class",
        "abstract_class_declaration": "class",
        "method_definition": "function",
        "method_signature": "function",
        "abstract_method_signature": "function",
        "public_field_definition": "field",
        "property_signature": "field",
        "interface_declaration": "class",
        "type_alias_declaration": "type",
        "enum_declaration": "type",
        "internal_module": "module",
        "module": "module",
    },
    "go": {
        "function_declaration": "function",
        "method_declaration": "function",
        "type_spec": "type",
        "type_alias": "type",
        "const_spec": "variable",
        "var_spec": "variable",
        "field_declaration": "field",
        "method_elem": "function",
        "method_spec": "function",
    },
    "rust": {
        "function_item": "function",
        "function_signature_item": "function",
        "struct_item": "class",
        "enum_item": "class",
        "union_item": "class",
        "trait_item": "class",
        "const_item": "variable",
        "static_item": "variable",
        "type_item": "type",
        "mod_item": "module",
        "macro_definition": "macro",
        "field_declaration": "field",
        "enum_variant": "field",
    },
    "java": {
        "class_declaration": "class",
        "interface_declaration": "class",
        "enum_declaration": "class",
        "record_declaration": "class",
        "annotation_type_declaration": "class",
        "method_declaration": "function",
        "constructor_declaration": "function",
        "enum_constant": "field",
    },
    "csharp": {
        "class_declaration": "class",
        "interface_declaration": "class",
        "struct_declaration": "class",
        "record_declaration": "class",
        "enum_declaration": "class",
        "namespace_declaration": "module",
        "method_declaration": "function",
        "constructor_declaration": "function",
        "local_function_statement": "function",
        "operator_declaration": "function",
        "delegate_declaration": "type",
        "property_declaration": "field",
        "indexer_declaration": "field",
        "event_declaration": "field",
        "enum_member_declaration": "field",
    },
    "c": {
        "preproc_def": "macro",
        "preproc_function_def": "macro",
        "enumerator": "field",
    },
}
_NAMED["cpp"] = {
    **_NAMED["c"],
    "namespace_definition": "module",
    "concept_definition": "type",
    "alias_declaration": "type",
}

# Nodes whose children are walked for more definitions.
_CONTAINERS: dict[str, set[str]] = {
    "python": {
        "module",
        "block",
        "decorated_definition",
        "if_statement",
        "else_clause",
        "elif_clause",
        "try_statement",
        "except_clause",
        "finally_clause",
        "with_statement",
    },
    "javascript": {"program", "export_statement", "class_body", "statement_block"},
    "typescript": {
        "program",
        "export_statement",
        "class_body",
        "interface_body",
        "object_type",
        "enum_body",
        "ambient_declaration",
        "statement_block",
    },
    "go": {
        "source_file",
        "type_declaration",
        "const_declaration",
        "var_declaration",
        "field_declaration_list",
        "interface_type",
        "struct_type",
    },
    "rust": {
        "source_file",
        "declaration_list",
        "field_declaration_list",
        "enum_variant_list",
        "impl_item",
        "attribute_item",
    },
    "java": {
        "program",
        "class_body",
        "interface_body",
        "enum_body",
        "enum_body_declarations",
        "record_declaration",
    },
    "csharp": {
        "compilation_unit",
        "declaration_list",
        "enum_member_declaration_list",
        "file_scoped_namespace_declaration",
    },
    "c": {
        "translation_unit",
        "preproc_ifdef",
        "preproc_if",
        "preproc_else",
        "preproc_elif",
        "linkage_specification",
        "declaration_list",
        "field_declaration_list",
        "enumerator_list",
        "template_declaration",
    },
}
_CONTAINERS["cpp"] = _CONTAINERS["c"]
for _kinds in _CONTAINERS.values():
    _kinds.add("ERROR")  # half-typed code: definitions inside a parse error still count

_DECL_LEAVES = {
    "identifier",
    "field_identifier",
    "type_identifier",
    "destructor_name",
    "operator_name",
    "namespace_identifier",
}


def _line_of(node: Any) -> int:
    return int(node.start_point[0])


def _text(node: Any) -> str:
    return node.text.decode("utf-8", errors="replace") if node is not None and node.text is not None else ""


def _c_declarator_name(node: Any) -> tuple[str | None, bool]:
    """Name declared by a C/C++ declarator and whether it declares a function."""
    is_function = False
    for _ in range(12):
        if node is None:
            return None, is_function
        t = node.type
        if t in _DECL_LEAVES:
            return _text(node), is_function
        if t in ("qualified_identifier", "template_function", "template_type"):
            inner = node.child_by_field_name("name")
            if inner is None:
                return _text(node).split("::")[-1], is_function
            node = inner
            continue
        if t == "function_declarator":
            is_function = True
        nxt = node.child_by_field_name("declarator")
        if nxt is None:
            named = [
                c for c in node.named_children if c.type in _DECL_LEAVES or c.type.endswith("declarator")
            ]
            nxt = named[0] if named else None
        node = nxt
    return None, is_function


class _Walker:
    def __init__(self, language: str) -> None:
        self.language = language
        self.named = _NAMED.get(language, {})
        self.containers = _CONTAINERS.get(language, set())
        self.defs: list[Definition] = []

    def add(
        self, name: str | None, kind: str, node: Any, body: Any, depth: int, container: str | None
    ) -> None:
        if not name or len(name) > 80 or name in KEYWORDS or not IDENT_RE.fullmatch(name):
            return
        start = _line_of(node)
        if body is not None:
            body_line, body_col = int(body.start_point[0]), int(body.start_point[1])
        else:
            body_line, body_col = int(node.end_point[0]), -1
        self.defs.append(
            Definition(name, kind, start, int(node.end_point[0]), body_line, body_col, depth, container)
        )

    def walk(self, node: Any, depth: int = 0, container: str | None = None) -> None:
        if depth > 6:
            return
        lang = self.language
        for child in node.named_children:
            t = child.type
            if t in self.named:
                kind = self.named[t]
                name_node = child.child_by_field_name("name")
                if name_node is None and t in ("enum_constant", "field_declaration"):
                    name_node = next((c for c in child.named_children if c.type.endswith("identifier")), None)
                name = _text(name_node) if name_node is not None else None
                body = child.child_by_field_name("body")
                walk_node = body
                if lang == "go" and t == "type_spec":
                    walk_node = child.child_by_field_name("type")
                    body = None
                    if walk_node is not None and walk_node.type in ("struct_type", "interface_type"):
                        body = next(
                            (c for c in walk_node.children if c.type in ("{", "field_declaration_list")), None
                        )
                    else:
                        walk_node = None
                self.add(name, kind, child, body, depth, container)
                if walk_node is not None and lang == "csharp" and t == "namespace_declaration":
                    self.walk(walk_node, depth, container)  # like a C++ namespace: members stay top level
                elif walk_node is not None and kind in ("class", "module", "type"):
                    self.walk(walk_node, depth + 1, name)
                elif lang == "python" and kind == "function" and name == "__init__" and body is not None:
                    self._python_attributes(body, depth + 1, container)
                elif lang == "go" and t == "type_spec":
                    pass
                continue
            if lang == "python" and t == "expression_statement":
                self._python_assignment(child, depth, container)
                continue
            if lang in ("javascript", "typescript") and t in ("lexical_declaration", "variable_declaration"):
                for decl in child.named_children:
                    if decl.type == "variable_declarator":
                        name_node = decl.child_by_field_name("name")
                        if name_node is not None and name_node.type == "identifier":
                            value = decl.child_by_field_name("value")
                            kind = (
                                "function"
                                if value is not None
                                and value.type in ("arrow_function", "function_expression")
                                else "variable"
                            )
                            body = value.child_by_field_name("body") if kind == "function" and value else None
                            self.add(_text(name_node), kind, decl, body, depth, container)
                continue
            if (lang == "java" and t in ("field_declaration", "constant_declaration")) or (
                lang == "csharp" and t in ("field_declaration", "event_field_declaration")
            ):
                decls = child.named_children
                if lang == "csharp":  # C# nests the declarators in a variable_declaration
                    decls = [d for v in decls if v.type == "variable_declaration" for d in v.named_children]
                for decl in decls:
                    if decl.type == "variable_declarator":
                        self.add(
                            _text(decl.child_by_field_name("name")), "field", child, None, depth, container
                        )
                continue
            if lang == "rust" and t == "impl_item":
                target = child.child_by_field_name("type")
                body = child.child_by_field_name("body")
                name = _text(target).split("<")[0] if target is not None else None
                self.add(name, "impl", child, body, depth, container)
                if body is not None:
                    self.walk(body, depth + 1, name or container)
                continue
            if lang in ("c", "cpp") and self._c_node(child, depth, container):
                continue
            if t in self.containers:
                self.walk(child, depth + (1 if t.endswith(("body", "list")) and depth > 0 else 0), container)

    def _c_node(self, child: Any, depth: int, container: str | None) -> bool:
        t = child.type
        if t == "function_definition":
            name, _ = _c_declarator_name(child.child_by_field_name("declarator"))
            self.add(name, "function", child, child.child_by_field_name("body"), depth, container)
            return True
        if t in ("declaration", "field_declaration"):
            declarators = [c for c in child.children_by_field_name("declarator")]
            for decl in declarators:
                name, is_fn = _c_declarator_name(decl)
                self.add(
                    name,
                    "function" if is_fn else ("field" if t == "field_declaration" else "variable"),
                    child,
                    None,
                    depth,
                    container,
                )
            inner = child.child_by_field_name("type")
            if inner is not None and inner.type in (
                "struct_specifier",
                "class_specifier",
                "union_specifier",
                "enum_specifier",
            ):
                self._c_node(inner, depth, container)
            return True
        if t in ("struct_specifier", "class_specifier", "union_specifier", "enum_specifier"):
            body = child.child_by_field_name("body")
            name_node = child.child_by_field_name("name")
            if body is not None and name_node is not None:
                name = _text(name_node).split("::")[-1]
                self.add(name, "class", child, body, depth, container)
                self.walk(body, depth + 1, name)
            return True
        if t == "type_definition":
            inner = child.child_by_field_name("type")
            names = [_c_declarator_name(d)[0] for d in child.children_by_field_name("declarator")]
            body = inner.child_by_field_name("body") if inner is not None else None
            for name in names:
                self.add(name, "type", child, body, depth, container)
            if inner is not None and body is not None:
                self.walk(body, depth + 1, names[0] if names else container)
            return True
        if t == "namespace_definition":
            name_node = child.child_by_field_name("name")
            body = child.child_by_field_name("body")
            if name_node is not None:
                self.add(_text(name_node), "module", child, body, depth, container)
            if body is not None:
                self.walk(body, depth, container)
            return True
        return False

    def _python_assignment(self, stmt: Any, depth: int, container: str | None) -> None:
        for node in stmt.named_children:
            if node.type != "assignment":
                continue
            left = node.child_by_field_name("left")
            if left is None:
                continue
            targets = (
                [left]
                if left.type == "identifier"
                else [c for c in left.named_children if c.type == "identifier"]
            )
            for target in targets:
                self.add(_text(target), "variable", stmt, None, depth, container)

    def _python_attributes(self, body: Any, depth: int, container: str | None) -> None:
        for stmt in body.named_children:
            if stmt.type != "expression_statement":
                continue
            for node in stmt.named_children:
                if node.type != "assignment":
                    continue
                left = node.child_by_field_name("left")
                if left is not None and left.type == "attribute":
                    obj = left.child_by_field_name("object")
                    attr = left.child_by_field_name("attribute")
                    if obj is not None and _text(obj) == "self" and attr is not None:
                        self.add(_text(attr), "attribute", stmt, None, depth, container)


_MACRO_AFTER_KEYWORD = re.compile(
    r"\b(?:class|struct|union)\s+([A-Z][A-Z0-9_]{2,}(?:\([^)\n]*\))?)\s+(?=[A-Za-z_])"
)
_MACRO_LINE = re.compile(r"^[ \t]*([A-Z][A-Z0-9_]{2,}(?:\([^)\n]*\))?)[ \t]*$", re.MULTILINE)
_MACRO_LEAD = re.compile(
    r"^[ \t]*([A-Z][A-Z0-9_]{2,})[ \t]+"
    r"(?=(?:const\s+|static\s+|virtual\s+|inline\s+)*[\w:<>]+[\s*&]+~?\w+\s*\()",
    re.MULTILINE,
)


def _mask_macros(text: str) -> str:
    """Blank export/attribute macros (`class RPY_EXPORT Foo`, a lone `RPY_NO_DISCARD` line) that a
    parser without the preprocessor reads as types; same length, so every offset stays valid."""

    def blank(m: re.Match[str]) -> str:
        a, b = m.span(1)
        whole = m.group(0)
        start = m.start()
        return whole[: a - start] + " " * (b - a) + whole[b - start :]

    for pattern in (_MACRO_AFTER_KEYWORD, _MACRO_LINE, _MACRO_LEAD):
        text = pattern.sub(blank, text)
    return text


_FALLBACK_DEF = re.compile(
    r"^(?P<indent>[ \t]*)(?:(?:public|private|protected|internal|static|final|abstract|sealed|partial"
    r"|open|override|virtual|async|export|default|data|inline|suspend|readonly|unsafe|extern|new|pub|mut)\s+)*"
    r"(?:(?P<ckind>class|interface|struct|enum|record|trait|object|protocol|module|namespace|type)\s+(?P<cname>\w+)"
    r"|(?:def|fun|func|function|fn|sub|proc)\s+(?:[\w.]+\.)?(?P<fname>\w+)"
    r"|(?P<rtype>[A-Za-z_][\w<>\[\],.?]*)\s+(?P<mname>[A-Za-z_]\w*)\s*(?:<[^>\n]*>)?\s*\()",
    re.MULTILINE,
)
_NOT_TYPES = frozenset(
    {"return", "new", "else", "await", "throw", "yield", "case", "goto", "using", "import"}
)


def _fallback_definitions(text: str) -> list[Definition]:
    """Definitions by pattern for languages without a grammar (C#, Kotlin, Swift, Ruby, PHP, ...):
    type declarations and method-like signatures; a body ends at the next line indented no deeper."""
    lines = text.split("\n")
    starts = [0]
    for text_line in lines:
        starts.append(starts[-1] + len(text_line) + 1)
    defs: list[Definition] = []
    import bisect

    for m in _FALLBACK_DEF.finditer(text):
        name = m.group("cname") or m.group("fname") or m.group("mname")
        if not name or name in KEYWORDS or (m.group("rtype") and m.group("rtype") in _NOT_TYPES):
            continue
        kind = "class" if m.group("cname") else "function"
        line = bisect.bisect_right(starts, m.start()) - 1
        indent = len(m.group("indent").expandtabs(4))
        end = line
        for j in range(line + 1, min(len(lines), line + 400)):
            stripped = lines[j].strip()
            if not stripped or stripped == "{":
                continue
            if len(lines[j].expandtabs(4)) - len(lines[j].expandtabs(4).lstrip()) <= indent:
                end = j if stripped[0] in "}])" or stripped.startswith(("end", "End")) else j - 1
                break
            end = j
        depth = indent // 4
        defs.append(Definition(name, kind, line, max(line, end), line, -1, depth))
    return defs


def definitions(text: str, language: str | None) -> list[Definition]:
    """Definitions in `text`, in source order. Languages with a grammar get a syntax-aware table;
    other code (C#, Kotlin, Swift, ...) a pattern-based one; unknown languages nothing."""
    fam = syntax.family(language)
    if fam is None:
        return []
    if fam not in _NAMED:
        return _fallback_definitions(text) if language in set(syntax.EXTENSIONS.values()) else []
    if fam in ("c", "cpp"):
        text = _mask_macros(text)
    tree = syntax.parse(text, language)
    if tree is None:
        return []
    walker = _Walker(fam)
    walker.walk(tree.root_node)
    walker.defs.sort(key=lambda d: (d.start_line, d.depth))
    return walker.defs


__all__ = [
    "IDENT_RE",
    "KEYWORDS",
    "STOPWORDS",
    "Definition",
    "code_only",
    "definitions",
    "file_language",
    "header_comment_lines",
    "identifiers",
]
