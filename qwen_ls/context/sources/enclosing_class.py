"""Source: the class whose method the cursor is in, for C and C++ out-of-line definitions
(`void Foo::bar() {` -> the definition of `Foo`), whose members the body uses without a prefix."""

from __future__ import annotations

import re

from qwen_ls.context.sources.base import Candidate, Query
from qwen_ls.context.sources.lookup import definition_candidates
from qwen_ls.context.sources.workspace import Workspace

#: The owning class's definition, and the classes it mentions one level down.
OWNER_WEIGHT = 0.8
#: How far back a method header is looked for.
LOOKBACK_CHARS = 20000

_CPP_METHOD = re.compile(r"^[\w:<>,\s*&]*?\b(\w+)\s*::\s*~?\w+\s*\([^;{]*\)[^;{]*\{", re.MULTILINE)


class EnclosingClassSource:
    """The owner of the C++ method being written."""

    def __init__(self, ws: Workspace, weight: float = OWNER_WEIGHT) -> None:
        self.ws = ws
        self.weight = weight

    def candidates(self, query: Query) -> list[Candidate]:
        if not self.ws.settings.definitions or query.language not in ("c", "cpp"):
            return []
        owner = None
        for m in _CPP_METHOD.finditer(query.text, max(0, query.offset - LOOKBACK_CHARS), query.offset):
            owner = m.group(1)
        if not owner:
            return []
        return definition_candidates(
            self.ws,
            query,
            owner,
            self.weight,
            f"the cursor is in a method of `{owner}`",
            follow=1,
            exact=True,
        )
