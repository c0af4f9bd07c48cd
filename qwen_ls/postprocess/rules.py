"""Switches for the pipeline's rules: every rule is on in the product; `qwen-ls bench postprocess
--folds K` turns them off one at a time to see, out of fold, whether each one earns its place.

These are not user settings (those are `PostprocessSettings`): a rule that only helps on the data it
was tuned on should be removed, not offered.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Rules:
    #: The syntax tree may refuse a statement end that leaves the unit at the cursor unfinished (`unit`).
    unit_syntax: bool = True
    #: A single-line statement keeps the next lines that close what the code after the cursor leaves open.
    syntax_extend: bool = True
    #: Block completions are cut at the line end where the document parses best.
    syntax_cut: bool = True
    #: A block header on a line of its own brings its block (else it ends at the opening of the body).
    compound_blocks: bool = True
    #: A chain that loops within one line is cut after its first copy.
    inline_loops: bool = True
    #: A last line that starts the next line after the cursor (a run-on cut short) is dropped.
    partial_runon: bool = True

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def without(self, name: str) -> Rules:
        return replace(self, **{name: False})


ALL_ON = Rules()
