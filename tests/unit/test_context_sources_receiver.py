"""Source `receiver`: what a member access before the cursor goes through."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_ls.context.sources.receiver import (
    WEIGHTS,
    ReceiverSource,
    ReceiverWeights,
    enclosing_bases,
    receiver_types,
)
from tests.unit.context_sources_helpers import make_workspace, query_at, rel

ANIMATIONS = "def fade_in(node):\n    pass\n\n\ndef slide(node, dx):\n    pass\n"
POT = "class Pot:\n    def stir(self):\n        pass\n\n    def boil(self, minutes):\n        pass\n"
BASE = "class Widget:\n    def draw(self):\n        pass\n"


def test_a_module_receiver_brings_the_modules_outline(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, {"animations.py": ANIMATIONS})
    q = query_at(ws, tmp_path, "main.py", "import animations as anims\n\nanims.‸")
    assert q.chain == ("anims",)
    got = ReceiverSource(ws).candidates(q)
    assert [(rel(tmp_path, c.path), c.source, c.contiguous) for c in got] == [
        ("animations.py", "import", False)
    ]
    assert got[0].score == WEIGHTS.module
    assert "`anims.` is this module" in got[0].reason
    assert any("def slide(node, dx):" in line for line in got[0].lines)


def test_a_variables_type_from_its_assignment(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, {"kitchen/pot.py": POT})
    q = query_at(ws, tmp_path, "main.py", "from kitchen.pot import Pot\n\npot = Pot()\npot.‸")
    got = ReceiverSource(ws).candidates(q)
    assert got and rel(tmp_path, got[0].path) == "kitchen/pot.py" and got[0].source == "definition"
    assert got[0].score == pytest.approx(WEIGHTS.receiver_type)  # the only owner, exact: no discount
    assert got[0].reason == "defines `Pot`; `pot` is a `Pot`"


def test_self_brings_the_base_classes(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, {"ui/base.py": BASE})
    text = "from ui.base import Widget\n\n\nclass Button(Widget):\n    def click(self):\n        self.‸"
    got = ReceiverSource(ws).candidates(query_at(ws, tmp_path, "ui/button.py", text))
    assert [(rel(tmp_path, c.path), c.score) for c in got] == [
        ("ui/base.py", pytest.approx(WEIGHTS.base_class))
    ]
    assert got[0].reason == "defines `Widget`; a base class of this class"


def test_the_switches(tmp_path: Path) -> None:
    files = {"animations.py": ANIMATIONS, "kitchen/pot.py": POT}
    module = "import animations as anims\n\nanims.‸"
    typed = "from kitchen.pot import Pot\n\npot = Pot()\npot.‸"
    ws = make_workspace(tmp_path, files, imports=False)
    assert ReceiverSource(ws).candidates(query_at(ws, tmp_path, "main.py", module)) == []
    assert ReceiverSource(ws).candidates(query_at(ws, tmp_path, "main.py", typed))
    ws = make_workspace(tmp_path, files, definitions=False)
    assert ReceiverSource(ws).candidates(query_at(ws, tmp_path, "main.py", module))
    assert ReceiverSource(ws).candidates(query_at(ws, tmp_path, "main.py", typed)) == []
    # no member access: nothing
    assert ReceiverSource(ws).candidates(query_at(ws, tmp_path, "main.py", "x = 1‸")) == []


def test_weights_are_the_sources_own(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, {"kitchen/pot.py": POT})
    q = query_at(ws, tmp_path, "main.py", "from kitchen.pot import Pot\n\npot = Pot()\npot.‸")
    got = ReceiverSource(ws, ReceiverWeights(receiver_type=0.5)).candidates(q)
    assert got[0].score == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("before", "name", "attribute", "language", "expected"),
    [
        ("pot = kitchen.Pot()\n", "pot", False, "python", ["Pot"]),
        ("pot: Pot = make()\n", "pot", False, "python", ["Pot"]),
        ("self.pot = Pot()\nother = Kettle()\n", "pot", True, "python", ["Pot"]),
        ("const pot = new Pot<Soup>();\n", "pot", False, "typescript", ["Pot"]),
        ("private Pot pot;\n", "pot", False, "java", ["Pot"]),
        ("pot := &Pot{}\n", "pot", False, "go", ["Pot"]),
        ("func f(store *Store) {\n", "store", False, "go", ["Store"]),
        ("let pot = Pot::new();\n", "pot", False, "rust", ["Pot"]),
        ("x = 1\n", "pot", False, "python", []),
    ],
)
def test_receiver_types(before: str, name: str, attribute: bool, language: str, expected: list[str]) -> None:
    assert receiver_types(before, name, attribute, language) == expected


def test_enclosing_bases() -> None:
    assert enclosing_bases("class A(Base, Mixin):\n    def f(self):\n        ", 40) == ["Base", "Mixin"]
    java = "public class Impl extends AbstractServer implements Handler {\n  void f() {"
    assert enclosing_bases(java, len(java)) == ["AbstractServer", "Handler"]
    assert enclosing_bases("def f():\n    pass\n", 10) == []
