"""Source: the receiver of a member access right before the cursor (`anims.`, `self.scene.`, `pot.`).

A module name brings that module's outline (and what it re-exports); `self.` brings the base classes
of the enclosing class; any other receiver brings the definition of its type, found from its
assignment or annotation before the cursor (or, failing that, the definition of the name itself).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qwen_ls.context.sources.base import Candidate, Query
from qwen_ls.context.sources.lookup import definition_candidates, outline_candidates, reexport_candidates
from qwen_ls.context.sources.query import SELF_NAMES
from qwen_ls.context.sources.workspace import Workspace
from qwen_ls.context.symbols import IDENT_RE, STOPWORDS


@dataclass(frozen=True)
class ReceiverWeights:
    #: `anims.` where `anims` is an imported module: that module's outline
    module: float = 1.0
    #: the files such a module (a package `__init__`, an `index.ts`) re-exports
    reexported: float = 0.9
    #: `self.` / `this.`: the base classes of the class the cursor is in
    base_class: float = 0.9
    #: the receiver's type, from its annotation or assignment before the cursor
    receiver_type: float = 0.97
    #: no type found: the receiver's own definition (a module-level object, a property)
    receiver_name: float = 0.95


WEIGHTS = ReceiverWeights()


class ReceiverSource:
    """Context for the member access being typed."""

    def __init__(self, ws: Workspace, weights: ReceiverWeights = WEIGHTS) -> None:
        self.ws = ws
        self.weights = weights

    def candidates(self, query: Query) -> list[Candidate]:
        s = self.ws.settings
        chain = query.chain
        if not chain or not (s.imports or s.definitions):
            return []
        w = self.weights
        bound = query.imports.bound
        out: list[Candidate] = []
        head = chain[0]
        last_name = chain[-1]
        if head in bound and s.imports:
            for target in bound[head][:2]:
                out += outline_candidates(self.ws, target, w.module, "import", f"`{head}.` is this module")
                out += reexport_candidates(
                    self.ws, target, w.reexported, f"re-exported by the module `{head}`"
                )
        if not s.definitions:
            return out
        if head in SELF_NAMES and len(chain) == 1:
            for base in enclosing_bases(query.text, query.offset):
                out += definition_candidates(self.ws, query, base, w.base_class, "a base class of this class")
        elif last_name not in SELF_NAMES and not (len(chain) == 1 and head in bound):
            # the receiver's type, from its assignment or annotation before the cursor
            attribute = len(chain) > 1 and head in SELF_NAMES
            types = receiver_types(query.text[: query.offset], last_name, attribute, query.language)
            for t in types[:2]:
                out += definition_candidates(
                    self.ws, query, t, w.receiver_type, f"`{last_name}` is a `{t}`", follow=2, exact=True
                )
            if not types:
                out += definition_candidates(
                    self.ws, query, last_name, w.receiver_name, f"`{last_name}` is the receiver", follow=1
                )
        return out


_CLASS_HEAD = re.compile(
    r"^[ \t]*(?:export\s+)?(?:default\s+)?(?:public\s+|private\s+|abstract\s+|final\s+)*"
    r"(?:class|struct|interface)\s+([A-Za-z_]\w*)[^\n{:(]*?"
    r"(?:\(([^)]*)\)|\s+extends\s+([\w.,\s<>]+?)(?:\s+implements\s+([\w.,\s<>]+?))?\s*\{|\s*:\s*([^{;]+)\{)",
    re.MULTILINE,
)


def enclosing_bases(text: str, offset: int) -> list[str]:
    """The base classes of the last class header before `offset` (at most 4)."""
    best = None
    for m in _CLASS_HEAD.finditer(text, 0, offset):
        best = m
    if best is None:
        return []
    raw = " ".join(g for g in best.groups()[1:] if g)
    return [
        w
        for w in IDENT_RE.findall(raw)
        if w not in STOPWORDS
        and w[0].isupper()
        and w not in ("Object", "object", "public", "private", "protected")
    ][:4]


def receiver_types(before: str, name: str, attribute: bool, language: str | None = None) -> list[str]:
    """Type names a variable (or `self.`/`this.` attribute) is given before the cursor: its annotation,
    or the class it is constructed from, in the syntax of any of the supported languages. Assignments
    through `self.`/`this.` are preferred for attributes; a field declaration (`private foo: Foo`,
    `Foo foo;`) counts too."""
    n = re.escape(name)
    leads = [r"(?:self|this)\s*\.\s*", r"(?<![\w.])"] if attribute else [r"(?<![\w.])"]
    pats: list[str] = []
    for lead in leads:
        pats += [
            lead + n + r"\s*\??:\s*(?:[\w.]+\[)?([A-Za-z_][\w.]*)",  # Python / TS annotation
            lead + n + r"\s*(?::[^=\n]+)?=\s*(?:new\s+|await\s+|&)?([A-Za-z_][\w.:]*)\s*[\(\{<]",  # = Type(
            lead + n + r"\s*:=\s*&?([\w.]+)\s*[\{(]",  # Go
        ]
    pats.append(r"\b([A-Z]\w*)(?:<[^>\n]*>)?[\s*&]+" + n + r"\s*[=;,)({]")  # Java / C / C++: Type name
    pats.append(r"\blet\s+(?:mut\s+)?" + n + r"\s*(?::\s*&?(?:mut\s+)?([\w:]+))?\s*=\s*([\w:]+)")  # Rust
    if language == "go":  # fields and parameters: `store *Store`, `items []Item`
        pats.append(r"(?<![\w.])" + n + r"\s+\*?(?:\[\])?((?:\w+\.)?[A-Z]\w*)\b")
    found: list[tuple[int, str]] = []
    tail = before[-200_000:]
    for pat in pats:
        for m in re.finditer(pat, tail):
            for g in m.groups():
                if g:
                    parts = [w for w in re.split(r"\.|::", g) if w]
                    if not parts:
                        continue
                    # `Type::new(` / `pkg.Type(`: the type is the last capitalised part
                    caps = [w for w in parts if w[:1].isupper()]
                    found.append((m.start(), caps[-1] if caps else parts[-1]))
    found.sort(key=lambda x: -x[0])
    out: list[str] = []
    for _, t in found:
        if t not in out and t not in STOPWORDS and t != name:
            out.append(t)
    return out
