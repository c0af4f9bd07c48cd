"""The context engine: sources, exclusions (secrets above all), budgets, stability and clean-up."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from qwen_ls.context import ContextEngine, ContextSettings
from qwen_ls.context.tokens import approximate_tokens

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretkeymaterialXYZ\n-----END RSA PRIVATE KEY-----\n"


def count(text: str) -> int:
    return approximate_tokens(text)


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def make_engine(root: Path, **settings: object) -> ContextEngine:
    engine = ContextEngine(ContextSettings(**settings), count)  # type: ignore[arg-type]
    engine.set_roots([root])
    engine.build_index()
    return engine


def at_end(engine: ContextEngine, path: Path, text: str, budget: int = 512):  # type: ignore[no-untyped-def]
    return engine.retrieve(path, text, len(text), budget, (0, len(text)))


UTIL = '''"""Money helpers."""


def compute_total(items, tax_rate):
    subtotal = sum(item.price for item in items)
    return round(subtotal * (1 + tax_rate), 2)


class Basket:
    def __init__(self, owner):
        self.owner = owner
        self.items = []

    def add(self, item):
        self.items.append(item)
'''


def test_definition_from_other_file_under_its_relative_path(tmp_path: Path) -> None:
    write(tmp_path, "shop/util.py", UTIL)
    main = "from shop.util import compute_total\n\n\ndef checkout(basket):\n    total = compute_total("
    path = write(tmp_path, "shop/main.py", main)
    engine = make_engine(tmp_path)
    result = at_end(engine, path, main)
    assert result.snippets, result
    hit = [s for s in result.snippets if "def compute_total(items, tax_rate):" in s.text]
    assert hit and hit[0].path == "shop/util.py"
    assert hit[0].source in ("definition", "import")
    assert result.used <= 512
    assert result.used == sum(s.tokens for s in result.snippets)
    for s in result.snippets:
        assert s.tokens == 1 + count(f"{s.path}\n{s.text}\n")
        assert s.path != "shop/main.py"


def test_receiver_module_gets_an_outline(tmp_path: Path) -> None:
    write(
        tmp_path, "pkg/animations.py", "def fuse(a, b):\n    return a\n\n\ndef shake(it, amount):\n    pass\n"
    )
    text = "from . import animations as anims\n\n\ndef drop(v, w):\n    anim = anims."
    path = write(tmp_path, "pkg/panel.py", text)
    result = at_end(make_engine(tmp_path), path, text)
    outline = [s for s in result.snippets if s.path == "pkg/animations.py"]
    assert (
        outline
        and "def fuse(a, b): ..." in outline[0].text
        and "def shake(it, amount): ..." in outline[0].text
    )


def test_budget_is_never_exceeded_and_zero_budget_gives_nothing(tmp_path: Path) -> None:
    for i in range(30):
        write(
            tmp_path,
            f"m{i}.py",
            "\n".join(f"def helper_{i}_{k}(value):\n    return value + {k}\n" for k in range(40)),
        )
    text = "from m1 import helper_1_3\n" + "x = helper_1_3(2)\n" * 5
    path = write(tmp_path, "main.py", text)
    engine = make_engine(tmp_path)
    for budget in (40, 100, 300, 1000):
        engine.reset_state()
        result = at_end(engine, path, text, budget)
        assert result.used <= budget
    assert at_end(engine, path, text, 0).snippets == ()


def test_env_file_and_private_key_never_appear(tmp_path: Path) -> None:
    write(
        tmp_path, ".env", "API_TOKEN=sk-live-supersecret-123\nDATABASE_URL=postgres://admin:hunter2@db/prod\n"
    )
    write(tmp_path, ".env.production", "API_TOKEN=sk-live-prodsecret-456\n")
    write(tmp_path, "deploy/id_rsa", PEM)
    write(tmp_path, "certs/server.key", PEM)
    write(tmp_path, "certs/server.pem", PEM)
    write(tmp_path, "keys.py", f'KEY = """\n{PEM}"""\n\ndef load_api_token():\n    return KEY\n')
    write(tmp_path, ".aws/credentials", "[default]\naws_secret_access_key = AKIAsupersecret\n")
    write(tmp_path, "credentials.json", '{"api_token": "supersecret"}\n')
    write(
        tmp_path,
        "settings.py",
        "import os\n\nAPI_TOKEN = os.environ['API_TOKEN']\n\ndef database_url():\n    return 1\n",
    )
    text = (
        "from settings import API_TOKEN, database_url\n\n# API_TOKEN DATABASE_URL load_api_token KEY\n"
        "token = "
    )
    path = write(tmp_path, "app.py", text)
    engine = make_engine(tmp_path)
    # an editor that opens the secret files must not get them into the index either
    engine.on_open(tmp_path / ".env", (tmp_path / ".env").read_text(), "dotenv")
    engine.on_open(tmp_path / "deploy/id_rsa", PEM, "plaintext")
    engine.on_change(tmp_path / ".env", (tmp_path / ".env").read_text(), 0, 1)
    result = at_end(engine, path, text, 4000)
    blob = "\n".join(s.path + "\n" + s.text for s in result.snippets)
    assert "settings.py" in blob  # the context works, it just keeps secrets out
    for secret in ("supersecret", "prodsecret", "hunter2", "PRIVATE KEY", "secretkeymaterial"):
        assert secret not in blob
    indexed = {Path(p).name for p in engine.index.files}
    assert indexed == {"settings.py", "app.py"}
    for rel in (
        ".env",
        ".env.production",
        "deploy/id_rsa",
        "certs/server.key",
        "certs/server.pem",
        ".aws/credentials",
        "credentials.json",
    ):
        assert engine.is_excluded(tmp_path / rel), rel
    assert engine.is_secret(tmp_path / ".env")


def test_user_secret_patterns_and_excludes(tmp_path: Path) -> None:
    write(tmp_path, "conf/prod_settings.py", "def prod_password():\n    return 'pw-zzz'\n")
    write(tmp_path, "gen/schema.py", "def schema_thing():\n    return 1\n")
    write(tmp_path, "lib.py", "def lib_thing():\n    return 1\n")
    engine = make_engine(tmp_path, secret_patterns=("prod_*.py",), exclude=("gen/",))
    assert {Path(p).name for p in engine.index.files} == {"lib.py"}
    assert engine.is_excluded(tmp_path / "conf/prod_settings.py")
    assert engine.is_excluded(tmp_path / "gen/schema.py")


def test_gitignore_vendored_generated_binary_and_caps(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "ignored_dir/\n*.tmp.py\n")
    write(tmp_path, "sub/.gitignore", "local_only.py\n")
    write(tmp_path, "ignored_dir/a.py", "def a():\n    pass\n")
    write(tmp_path, "x.tmp.py", "def x():\n    pass\n")
    write(tmp_path, "sub/local_only.py", "def lo():\n    pass\n")
    write(tmp_path, "sub/kept.py", "def kept():\n    pass\n")
    write(tmp_path, "node_modules/lib/index.js", "export function f() {}\n")
    write(tmp_path, "vendor/x.go", "package x\n")
    write(tmp_path, "dist/app.min.js", "function a(){}" * 400)
    write(tmp_path, "web/app.min.js", "function a(){}" * 10)
    write(tmp_path, "gen_pb2.py", "# Generated by the protocol buffer compiler.  DO NOT EDIT!\nX = 1\n")
    write(tmp_path, "big.py", "x = 1\n" * 200_000)
    (tmp_path / "blob.py").write_bytes(b"\x00\x01\x02binary")
    write(tmp_path, "package-lock.json", "{}")
    engine = make_engine(tmp_path, max_file_bytes=64 * 1024)
    names = {Path(p).relative_to(tmp_path).as_posix() for p in engine.index.files}
    assert names == {"sub/kept.py"}
    write(tmp_path, "sub/second.py", "def second():\n    pass\n")
    capped = make_engine(tmp_path, max_files=1)
    assert len(capped.index.files) == 1 and capped.index.stats()["truncated"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this platform")
def test_links_out_of_the_workspace_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    ws = tmp_path / "ws"
    write(outside, "secret_lib.py", "def outside_function():\n    pass\n")
    write(ws, "inside.py", "def inside_function():\n    pass\n")
    os.symlink(outside, ws / "linked_dir")
    os.symlink(outside / "secret_lib.py", ws / "linked_file.py")
    os.symlink(ws / "inside.py", ws / "alias.py")
    engine = make_engine(ws)
    names = {Path(p).name for p in engine.index.files}
    assert "secret_lib.py" not in names and "linked_file.py" not in names
    assert "inside.py" in names


def test_open_document_unsaved_text_is_used(tmp_path: Path) -> None:
    other = write(tmp_path, "helpers.py", "def old_name():\n    pass\n")
    text = "from helpers import brand_new_helper\n\nvalue = brand_new_helper("
    path = write(tmp_path, "main.py", text)
    engine = make_engine(tmp_path)
    engine.on_open(other, "def brand_new_helper(a, b):\n    return a * b\n", "python")
    engine.on_open(path, text, "python")
    result = at_end(engine, path, text)
    assert any("def brand_new_helper(a, b):" in s.text for s in result.snippets)
    assert not any("old_name" in s.text for s in result.snippets)


def test_recent_edits_are_a_source(tmp_path: Path) -> None:
    other = write(tmp_path, "notes.py", "\n".join(f"row_{i} = {i}" for i in range(60)) + "\n")
    text = "import os\n\nprint("
    path = write(tmp_path, "main.py", text)
    engine = make_engine(tmp_path)
    edited = other.read_text().replace("row_30 = 30", "row_30 = compute_recently_edited()")
    engine.on_open(other, edited, "python")
    engine.on_change(other, edited, 30, 30)
    result = at_end(engine, path, text)
    recent = [s for s in result.snippets if s.source == "recent"]
    assert (
        recent
        and "compute_recently_edited" in recent[0].text
        and recent[0].start_line <= 31 <= recent[0].end_line
    )


def test_sources_can_be_switched_off(tmp_path: Path) -> None:
    write(tmp_path, "shop/util.py", UTIL)
    main = "from shop.util import compute_total\n\ntotal = compute_total("
    path = write(tmp_path, "shop/main.py", main)
    off = make_engine(
        tmp_path, imports=False, definitions=False, similar=False, open_documents=False, recent_edits=False
    )
    assert at_end(off, path, main).snippets == ()
    disabled = make_engine(tmp_path, enabled=False)
    assert at_end(disabled, path, main).snippets == ()


def _typing_workspace(tmp_path: Path) -> tuple[ContextEngine, Path, str, int]:
    for i in range(12):
        write(
            tmp_path,
            f"lib/mod{i}.py",
            "\n".join(
                f"def func_{i}_{k}(alpha, beta):\n    gamma = alpha + beta * {k}\n    return gamma\n"
                for k in range(15)
            ),
        )
    body = "from lib.mod1 import func_1_2\nfrom lib.mod2 import func_2_3\n\n\ndef main(alpha, beta):\n"
    body += "    gamma = func_1_2(alpha, beta)\n    delta = func_2_3(gamma, beta)\n\n    return delta\n"
    path = write(tmp_path, "app.py", body)
    engine = make_engine(tmp_path)
    insert_at = body.index("\n    return delta")
    return engine, path, body, insert_at


def test_typing_in_one_place_keeps_the_context_part(tmp_path: Path) -> None:
    engine, path, body, insert_at = _typing_workspace(tmp_path)
    typed = "\n    epsilon = func_1_2(delta, gamma) + alpha"
    previous = None
    changes = 0
    for k in range(1, len(typed) + 1):
        text = body[:insert_at] + typed[:k] + body[insert_at:]
        result = engine.retrieve(path, text, insert_at + k, 600, (0, len(text)))
        order = [(s.path, s.text) for s in result.snippets]
        if previous is not None and order != previous:
            changes += 1
        previous = order
    stats = engine.stats()
    assert stats["requests"] == len(typed)
    assert changes <= 2, changes
    assert stats["context_reuse_rate"] >= 0.9
    assert stats["kept"] >= len(typed) - 3


def test_rerank_keeps_survivors_in_their_previous_order(tmp_path: Path) -> None:
    engine, path, body, insert_at = _typing_workspace(tmp_path)
    first = engine.retrieve(path, body, insert_at, 600, (0, len(body)))
    # jump far away in the file's identifiers: a re-rank happens
    text = body + "\n\ndef other():\n    return func_5_7(1, 2) + func_6_1(3, 4)\n"
    second = engine.retrieve(path, text, len(text) - 1, 600, (0, len(text)))
    assert second.reranked
    old_keys = [(s.path, s.start_line, s.text) for s in first.snippets]
    new_keys = [(s.path, s.start_line, s.text) for s in second.snippets]
    survivors = [k for k in new_keys if k in old_keys]
    assert survivors == [k for k in old_keys if k in survivors]
    assert new_keys[: len(survivors)] == survivors


def test_on_close_cleans_every_per_document_map(tmp_path: Path) -> None:
    other = write(tmp_path, "other.py", "def other_fn():\n    pass\n")
    text = "from other import other_fn\nother_fn("
    path = write(tmp_path, "main.py", text)
    engine = make_engine(tmp_path)
    engine.on_open(path, text, "python")
    engine.on_open(other, "def other_fn(x):\n    pass\n", "python")
    engine.on_change(other, "def other_fn(x, y):\n    pass\n", 0, 0)
    engine.note_completion(path, 1)
    at_end(engine, path, text)
    for p in (path, other):
        engine.on_close(p)
    assert engine._ws.open == {}
    assert engine._last == {}
    assert engine._ws.recent == {}
    # the closed document is back to its saved text in the index
    at_end(engine, path, text)
    assert engine.index.files[other.as_posix()].def_names == frozenset({"other_fn"})


def test_file_watcher_events_update_the_index(tmp_path: Path) -> None:
    text = "from fresh import brand_new\n\nbrand_new("
    path = write(tmp_path, "main.py", text)
    engine = make_engine(tmp_path)
    assert not any("def brand_new" in s.text for s in at_end(engine, path, text).snippets)
    fresh = write(tmp_path, "fresh.py", "def brand_new(a):\n    return a\n")
    engine.on_files_changed([(fresh, "created")])
    engine.reset_state()
    assert any("def brand_new" in s.text for s in at_end(engine, path, text).snippets)
    fresh.unlink()
    engine.on_files_changed([(fresh, "deleted")])
    engine.reset_state()
    assert not any("def brand_new" in s.text for s in at_end(engine, path, text).snippets)
    assert fresh.as_posix() not in engine.index.files


def test_multi_root_paths_and_repo_names(tmp_path: Path) -> None:
    a = tmp_path / "alpha"
    b = tmp_path / "beta"
    write(a, "core/models.py", "class Account:\n    def deposit(self, amount):\n        pass\n")
    text = "from core.models import Account\n\nacct = Account()\nacct.deposit("
    path = write(b, "app/run.py", text)
    write(b, ".git/config", '[remote "origin"]\n\turl = git@github.com:acme/beta-service.git\n')
    engine = ContextEngine(ContextSettings(), count)
    engine.set_roots([a, b])
    engine.build_index()
    assert engine.relative_path(path) == "app/run.py"
    assert engine.repo_name(path) == "beta-service"
    assert engine.repo_name(a / "core/models.py") == "alpha"
    result = at_end(engine, path, text)
    assert any(s.path == "core/models.py" and "def deposit" in s.text for s in result.snippets)


def test_build_and_retrieve_concurrently(tmp_path: Path) -> None:
    for i in range(80):
        write(tmp_path, f"pkg/m{i}.py", f"def fn_{i}(x):\n    return x + {i}\n\n\nclass K{i}:\n    pass\n")
    text = "from pkg.m3 import fn_3\n\nfn_3("
    path = write(tmp_path, "main.py", text)
    engine = ContextEngine(ContextSettings(), count)
    engine.set_roots([tmp_path])
    errors: list[BaseException] = []

    def build() -> None:
        try:
            engine.build_index()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=build)
    thread.start()
    while thread.is_alive():
        engine.reset_state()
        at_end(engine, path, text)
    thread.join()
    assert not errors
    engine.reset_state()
    assert any("def fn_3" in s.text for s in at_end(engine, path, text).snippets)


def test_close_stops_a_build(tmp_path: Path) -> None:
    for i in range(20):
        write(tmp_path, f"m{i}.py", "x = 1\n")
    engine = ContextEngine(ContextSettings(), count)
    engine.set_roots([tmp_path])
    engine.close()
    engine.build_index()
    assert len(engine.index.files) == 0


def test_selection_made_before_the_index_was_ready_is_replaced(tmp_path: Path) -> None:
    write(tmp_path, "shop/util.py", UTIL)
    main = "from shop.util import compute_total\n\ntotal = compute_total("
    path = write(tmp_path, "shop/main.py", main)
    engine = ContextEngine(ContextSettings(), count)
    engine.set_roots([tmp_path])
    early = at_end(engine, path, main)
    assert early.snippets == () and not early.index_ready
    engine.build_index()
    late = at_end(engine, path, main)
    assert late.reranked and late.index_ready
    assert any("def compute_total" in s.text for s in late.snippets)
    again = at_end(engine, path, main)
    assert not again.reranked and again.snippets == late.snippets


# (files, current file, text before the cursor, text that must be retrieved) per language
CROSS_FILE = {
    "java": (
        {
            "src/main/java/com/acme/UserService.java": (
                "package com.acme;\n\npublic class UserService {\n    public User findUser(String id) {\n"
                "        return null;\n    }\n\n    public void deleteUser(String id) {\n    }\n}\n"
            )
        },
        "src/main/java/com/acme/App.java",
        "package com.acme;\n\npublic class App {\n"
        "    private final UserService users = new UserService();\n\n"
        "    void run() {\n        users.",
        "public User findUser(String id)",
    ),
    "csharp": (
        {
            "src/Shop.Core/Billing/Invoice.cs": (
                "namespace Shop.Core.Billing\n{\n    public class Invoice\n    {\n"
                "        public decimal AddLine(string sku, int qty)\n"
                "        {\n            return 0m;\n        }\n"
                "    }\n}\n"
            )
        },
        "src/Shop.Web/Program.cs",
        "using Shop.Core.Billing;\n\nvar invoice = new Invoice();\ninvoice.",
        "public decimal AddLine(string sku, int qty)",
    ),
    "go": (
        {
            "go.mod": "module example.com/shop\n",
            "store/store.go": (
                "package store\n\ntype Store struct {\n\titems []string\n}\n\n"
                "func (s *Store) AddItem(item string) {\n\ts.items = append(s.items, item)\n}\n"
            ),
        },
        "cmd/main.go",
        'package main\n\nimport "example.com/shop/store"\n\nfunc main() {\n\ts := &store.Store{}\n\ts.',
        "func (s *Store) AddItem(item string)",
    ),
    "rust": (
        {
            "src/lib.rs": "pub mod net;\n",
            "src/net.rs": (
                "pub struct Client {\n    url: String,\n}\n\nimpl Client {\n"
                "    pub fn connect(url: &str) -> Client {\n        Client { url: url.to_string() }\n    }\n"
                "    pub fn send_request(&self, body: &str) -> usize {\n        body.len()\n    }\n}\n"
            ),
        },
        "src/main.rs",
        'use crate::net::Client;\n\nfn main() {\n    let c = Client::connect("x");\n    c.',
        "pub fn send_request(&self, body: &str) -> usize",
    ),
    "typescript": (
        {
            "src/cart.ts": (
                "export class Cart {\n  addLine(sku: string, qty: number): void {\n    return;\n  }\n}\n"
            )
        },
        "src/app.ts",
        "import { Cart } from './cart';\n\nconst cart = new Cart();\ncart.",
        "addLine(sku: string, qty: number): void",
    ),
    "javascript": (
        {
            "lib/format.js": (
                "function formatPrice(value) {\n  return value.toFixed(2);\n}\n"
                "module.exports = { formatPrice };\n"
            )
        },
        "lib/main.js",
        "const { formatPrice } = require('./format');\n\nconsole.log(formatPrice(",
        "function formatPrice(value)",
    ),
    "c": (
        {
            "src/list.h": (
                "typedef struct list list_t;\nint list_push(list_t *l, int value);\n"
                "int list_pop(list_t *l);\n"
            )
        },
        "src/main.c",
        '#include "list.h"\n\nint main(void) {\n    list_t *l = 0;\n    list_push(',
        "int list_push(list_t *l, int value);",
    ),
    "cpp": (
        {
            "include/geo/shape.hpp": (
                "#pragma once\nnamespace geo {\nclass Shape {\npublic:\n    double area() const;\n"
                "    double perimeter() const;\n};\n}\n"
            )
        },
        "src/main.cpp",
        '#include "geo/shape.hpp"\n\nint main() {\n    geo::Shape shape;\n    return shape.',
        "double perimeter() const;",
    ),
}


@pytest.mark.parametrize("language", sorted(CROSS_FILE))
def test_cross_file_definitions_per_language(tmp_path: Path, language: str) -> None:
    files, current, before, wanted = CROSS_FILE[language]
    for rel, text in files.items():
        write(tmp_path, rel, text)
    path = write(tmp_path, current, before)
    result = at_end(make_engine(tmp_path), path, before, 400)
    assert any(wanted in s.text for s in result.snippets), [
        (s.path, s.source, s.text) for s in result.snippets
    ]


def test_csharp_namespaces_are_indexed_and_dropped_with_their_files(tmp_path: Path) -> None:
    a = write(tmp_path, "Core/Order.cs", "namespace Shop.Core;\npublic class Order { }\n")
    write(tmp_path, "Core/Line.cs", "namespace Shop.Core\n{\n    public class Line { }\n}\n")
    engine = make_engine(tmp_path)
    members = engine.index.in_namespace("Shop.Core")
    assert [Path(p).name for p in members] == ["Line.cs", "Order.cs"]
    engine.index.remove(a)
    assert [Path(p).name for p in engine.index.in_namespace("Shop.Core")] == ["Line.cs"]
    assert [Path(p).name for p in engine.index.by_suffix_dir("Core")] == ["Line.cs"]


def test_total_bytes_cap_bounds_the_index(tmp_path: Path) -> None:
    for i in range(10):
        write(tmp_path, f"m{i}.py", f"def f{i}():\n    return {i}\n" + "# padding line\n" * 100)
    engine = make_engine(tmp_path, max_total_bytes=4000)
    assert 1 <= len(engine.index.files) < 10
    assert engine.index.total_bytes <= 4000
    assert engine.index.stats()["truncated"]


def test_folder_events_add_and_drop_the_files_below(tmp_path: Path) -> None:
    write(tmp_path, "main.py", "x = 1\n")
    engine = make_engine(tmp_path)
    write(tmp_path, "pkg/sub/a.py", "def a_fn():\n    pass\n")
    write(tmp_path, "pkg/b.py", "def b_fn():\n    pass\n")
    write(tmp_path, "pkg/node_modules/c.js", "function c() {}\n")
    engine.on_files_changed([(tmp_path / "pkg", "created")])
    names = {Path(p).relative_to(tmp_path).as_posix() for p in engine.index.files}
    assert names == {"main.py", "pkg/sub/a.py", "pkg/b.py"}
    engine.on_files_changed([(tmp_path / "pkg", "deleted")])
    assert {Path(p).name for p in engine.index.files} == {"main.py"}
    assert engine.index.owners("a_fn") == set()


def test_switching_the_token_counter_drops_cached_counts(tmp_path: Path) -> None:
    write(tmp_path, "shop/util.py", UTIL)
    main = "from shop.util import compute_total\n\ntotal = compute_total("
    path = write(tmp_path, "shop/main.py", main)
    engine = make_engine(tmp_path)
    first = at_end(engine, path, main, 2000)
    engine.set_token_counter(lambda text: 2 * len(text))
    second = at_end(engine, path, main, 2000)
    assert second.reranked
    for s in second.snippets:
        assert s.tokens == 1 + 2 * len(f"{s.path}\n{s.text}\n")
    assert second.used != first.used


LICENCE = "/*\n * Copyright (c) Acme. All rights reserved.\n * Licensed under the Apache License.\n */\n"


@pytest.mark.parametrize("banner_first", [True, False])
def test_licence_headers_and_banners_are_not_similar_code(tmp_path: Path, banner_first: bool) -> None:
    # every file has the same licence (at the top, or after the package line as some projects do):
    # it must not outrank the code that matters
    def java(body: str) -> str:
        return LICENCE + "package acme;\n\n" + body if banner_first else "package acme;\n" + LICENCE + body

    for i in range(8):
        write(
            tmp_path,
            f"src/main/java/acme/Widget{i}.java",
            java(f"public class Widget{i} {{\n    int size{i}() {{ return {i}; }}\n}}\n"),
        )
    write(
        tmp_path,
        "src/main/java/acme/Cache.java",
        java("public class Cache {\n    Entry lookupEntry(String key) { return null; }\n}\n"),
    )
    before = java("class App {\n    void run(Cache cache) {\n        cache.")
    path = write(tmp_path, "src/main/java/acme/App.java", before)
    result = at_end(make_engine(tmp_path), path, before, 200)
    texts = [s.text for s in result.snippets]
    assert any("lookupEntry" in t for t in texts), texts
    assert result.snippets[-1].path.endswith("Cache.java")  # the best one sits next to the cursor
    if banner_first:  # a chunk never starts or ends in a comment block
        similar = [s for s in result.snippets if s.source == "similar"]
        assert all("Licensed under" not in s.text for s in similar), [s.text for s in similar]


def test_package_types_named_like_the_code_near_the_cursor(tmp_path: Path) -> None:
    # Java sees the classes of its package without imports: `HttpsServer` near the cursor brings
    # `HttpsServerImpl` from the same folder, and not an unrelated class of that folder
    pkg = "src/main/java/acme/net"
    write(
        tmp_path,
        f"{pkg}/HttpsServerImpl.java",
        "package acme.net;\n\nclass HttpsServerImpl extends HttpsServer {\n"
        "    HttpsServerImpl(int port, int backlog) {}\n}\n",
    )
    write(
        tmp_path,
        f"{pkg}/LogRotator.java",
        "package acme.net;\n\nclass LogRotator {\n    void rotate() {}\n}\n",
    )
    write(
        tmp_path,
        "src/main/java/other/HttpsServerImpl2.java",
        "package other;\n\nclass HttpsServerImplTwo {}\n",
    )
    before = (
        "package acme.net;\n\nclass Provider {\n"
        "    HttpsServer createHttpsServer(int port, int backlog) {\n        return new "
    )
    path = write(tmp_path, f"{pkg}/Provider.java", before)
    result = at_end(make_engine(tmp_path, similar=False, imports=False), path, before, 300)
    by_path = {s.path: s for s in result.snippets}
    assert f"{pkg}/HttpsServerImpl.java" in by_path, list(by_path)
    assert "HttpsServerImpl(int port, int backlog)" in by_path[f"{pkg}/HttpsServerImpl.java"].text
    assert f"{pkg}/LogRotator.java" not in by_path
    assert "src/main/java/other/HttpsServerImpl2.java" not in by_path


def test_imported_names_not_used_yet_come_first(tmp_path: Path) -> None:
    write(
        tmp_path,
        "app/parsers.py",
        "def parse_header(raw):\n    return raw\n\n\ndef parse_body(raw):\n    return raw\n",
    )
    write(
        tmp_path,
        "app/render.py",
        "def render_page(page):\n    return page\n\n\ndef render_menu(menu):\n    return menu\n",
    )
    before = (
        "from app.parsers import parse_header\nfrom app.render import render_page\n\n\n"
        "def handle(raw):\n    head = parse_header(raw)\n    log(head)\n    log(raw)\n    log(raw)\n"
        "    log(raw)\n    log(raw)\n    log(raw)\n    log(raw)\n    log(raw)\n    log(raw)\n"
        "    log(raw)\n    log(raw)\n    log(raw)\n    log(raw)\n    return "
    )
    path = write(tmp_path, "app/main.py", before)
    result = at_end(make_engine(tmp_path, similar=False, definitions=False), path, before, 60)
    paths = [s.path for s in result.snippets]
    assert paths and paths[-1] == "app/render.py", [(s.path, s.reason) for s in result.snippets]


def test_tsconfig_path_alias_imports_resolve(tmp_path: Path) -> None:
    write(
        tmp_path,
        "web/tsconfig.json",
        '{\n  // aliases\n  "compilerOptions": {"baseUrl": ".",\n'
        '    "paths": {"@ui/*": ["src/components/*"]},},\n}\n',
    )
    write(
        tmp_path,
        "web/src/components/button.tsx",
        "export function Button(props: { label: string; onPress: () => void }) {\n  return props.label;\n}\n",
    )
    before = "import { Button } from '@ui/button';\n\nexport function Page() {\n  return "
    path = write(tmp_path, "web/src/pages/page.tsx", before)
    result = at_end(make_engine(tmp_path, similar=False, definitions=False), path, before, 300)
    hit = [s for s in result.snippets if s.path == "web/src/components/button.tsx"]
    assert hit and "onPress" in hit[0].text, [(s.path, s.source) for s in result.snippets]


def test_go_type_brings_its_method_set(tmp_path: Path) -> None:
    # Go declares methods outside the struct: `r.` after `r := mux.NewRouter()` wants Router's methods
    write(tmp_path, "go.mod", "module example.com/web\n")
    write(
        tmp_path,
        "mux/router.go",
        "package mux\n\ntype Router struct {\n\troutes []string\n}\n\n"
        "func NewRouter() *Router {\n\treturn &Router{}\n}\n\n"
        "func (r *Router) HandleFunc(path string, f func()) *Router {\n\treturn r\n}\n\n"
        "func (r *Router) Methods(methods ...string) *Router {\n\treturn r\n}\n\n"
        "func helper() int {\n\treturn 1\n}\n",
    )
    before = 'package main\n\nimport "example.com/web/mux"\n\nfunc main() {\n\tr := mux.NewRouter()\n\tr.'
    path = write(tmp_path, "cmd/main.go", before)
    result = at_end(make_engine(tmp_path, similar=False, imports=False), path, before, 300)
    text = "\n".join(s.text for s in result.snippets)
    assert "func (r *Router) HandleFunc(path string, f func()) *Router" in text, text
    assert "func (r *Router) Methods(methods ...string) *Router" in text, text


def test_package_files_fill_the_budget_that_is_left(tmp_path: Path) -> None:
    # Java sees its package without imports: with budget to spare, the package's API comes along
    pkg = "src/main/java/acme/shop"
    write(
        tmp_path,
        f"{pkg}/Inventory.java",
        "package acme.shop;\n\nclass Inventory {\n    int reserve(String sku, int qty) { return qty; }\n}\n",
    )
    write(
        tmp_path,
        "src/main/java/acme/other/Unrelated.java",
        "package acme.other;\n\nclass Unrelated {\n    void nothingToSee() {}\n}\n",
    )
    before = "package acme.shop;\n\nclass Checkout {\n    void run() {\n        "
    path = write(tmp_path, f"{pkg}/Checkout.java", before)
    result = at_end(make_engine(tmp_path, similar=False, definitions=False), path, before, 400)
    paths = [s.path for s in result.snippets]
    assert f"{pkg}/Inventory.java" in paths, paths
    assert "src/main/java/acme/other/Unrelated.java" not in paths
    assert any("int reserve(String sku, int qty)" in s.text for s in result.snippets)


def test_csharp_using_lines_do_not_make_files_look_alike(tmp_path: Path) -> None:
    # two files share the current file's long list of usings; the one with the same code shares none
    usings = "".join(f"using Acme.Platform.Module{i};\n" for i in range(16))
    for i in range(6):
        head = usings if i < 2 else ""
        write(
            tmp_path,
            f"Shop/Widget{i}.cs",
            head + f"namespace Shop;\n\npublic class Widget{i}\n{{\n    public int Size{i}() => {i};\n}}\n",
        )
    write(
        tmp_path,
        "Shop/Pricing.cs",
        "namespace Shop;\n\npublic static class Pricing\n{\n"
        "    public static decimal Quote(decimal total, decimal rate)\n    {\n"
        "        var discounted = total * (1 - rate);\n        return decimal.Round(discounted, 2);\n"
        "    }\n}\n",
    )
    before = usings + "namespace Shop;\npublic class Cart\n{\n    decimal Checkout() => discounted"
    path = write(tmp_path, "Shop/Cart.cs", before)
    engine = make_engine(tmp_path, definitions=False, imports=False, recent_edits=False)
    result = at_end(engine, path, before, 250)
    assert result.snippets and result.snippets[-1].path == "Shop/Pricing.cs"
    # the files that only share the usings are no closer than the others
    assert not any("using Acme.Platform" in s.text for s in result.snippets), [
        (s.path, s.text[:40]) for s in result.snippets
    ]


def test_names_imported_through_a_barrel_bring_their_definitions(tmp_path: Path) -> None:
    write(
        tmp_path, "src/interfaces/index.ts", "export * from './common.interface';\nexport * from './git';\n"
    )
    write(
        tmp_path,
        "src/interfaces/common.interface.ts",
        "export interface GitFileChange {\n  filename: string;\n"
        "  status: 'added' | 'deleted' | 'changed';\n}\n",
    )
    write(tmp_path, "src/interfaces/git.ts", "export type Sha = string;\n")
    before = "import { GitFileChange } from '../interfaces';\n\n" + "const x = 1;\n" * 14
    before += "export async function selectFiles(\n  fileChanges: "
    path = write(tmp_path, "src/services/file.service.ts", before)
    result = at_end(make_engine(tmp_path, similar=False), path, before, 300)
    hit = [s for s in result.snippets if s.path == "src/interfaces/common.interface.ts"]
    assert hit and "status: 'added' | 'deleted' | 'changed';" in hit[0].text, [
        (s.path, s.reason) for s in result.snippets
    ]


def test_project_files_that_steer_imports_follow_watcher_events(tmp_path: Path) -> None:
    write(tmp_path, "web/src/components/button.tsx", "export function Button() {\n  return 1;\n}\n")
    engine = make_engine(tmp_path)
    assert engine.index.js_aliases() == []
    config = write(
        tmp_path, "web/tsconfig.json", '{"compilerOptions": {"paths": {"@ui/*": ["src/components/*"]}}}'
    )
    engine.on_files_changed([(config, "created")])
    assert [p for _, p, _ in engine.index.js_aliases()] == ["@ui/*"]
    config.write_text('{"compilerOptions": {"paths": {"@c/*": ["src/components/*"]}}}')
    engine.on_files_changed([(config, "changed")])
    assert [p for _, p, _ in engine.index.js_aliases()] == ["@c/*"]
    config.unlink()
    engine.on_files_changed([(config, "deleted")])
    assert engine.index.js_aliases() == []
    gomod = write(tmp_path, "go.mod", "module example.com/one\n")
    engine.on_files_changed([(gomod, "created")])
    gomod.write_text("module example.com/two\n")
    engine.on_files_changed([(gomod, "changed")])
    assert [m for m, _ in engine.index.go_modules()] == ["example.com/two"]
