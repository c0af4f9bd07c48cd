"""What the context sources may read: the workspace index, the open documents and the recent edit spots.

The engine owns one `Workspace` and keeps it current (documents opened, edited, closed; a new index
when the roots change); sources only read it, under the engine's lock.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from qwen_ls.context.index import WorkspaceIndex
from qwen_ls.context.settings import ContextSettings


@dataclass
class OpenDoc:
    """An open document: the editor's text wins over the disk while it is open."""

    text: str
    language: str | None
    excluded: bool  # an excluded path, or the text holds a secret: never indexed nor sent
    dirty: bool = True  # edited since the index last saw it
    _lines: list[str] | None = None
    _lines_of: str | None = None

    def lines(self) -> list[str]:
        if self._lines is None or self._lines_of is not self.text:
            self._lines, self._lines_of = self.text.split("\n"), self.text
        return self._lines


@dataclass
class Workspace:
    """The engine's state that sources read."""

    settings: ContextSettings
    index: WorkspaceIndex
    open: dict[str, OpenDoc] = field(default_factory=dict)  # absolute POSIX path -> document
    #: absolute POSIX path -> [(line, monotonic time)], newest spot first; the newest file last
    recent: OrderedDict[str, list[tuple[int, float]]] = field(default_factory=OrderedDict)

    def file_lines(self, path: str) -> list[str] | None:
        """The lines of a file: an open document's current text, else the indexed file's."""
        doc = self.open.get(path)
        if doc is not None and not doc.excluded:
            return doc.lines()
        return self.index.lines(path)

    def excluded(self, path: str) -> bool:
        """True for files no snippet may come from: excluded open documents and unindexed files."""
        doc = self.open.get(path)
        if doc is not None:
            return doc.excluded
        return path not in self.index.files

    def is_open(self, path: str) -> bool:
        """An open document that may be sent."""
        doc = self.open.get(path)
        return doc is not None and not doc.excluded
