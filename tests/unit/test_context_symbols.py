"""Symbol tables and outlines from tree-sitter, for every language the context supports."""

from __future__ import annotations

import pytest

from qwen_ls.context.outline import outline
from qwen_ls.context.symbols import (
    code_only,
    definitions,
    file_language,
    header_comment_lines,
    identifiers,
)

SOURCES = {
    "python": (
        "import os\nLIMIT = 3\n\nclass Basket(Base):\n    size: int = 0\n\n    def __init__(self, owner):\n"
        "        self.owner = owner\n\n    @property\n    def total(self) -> int:\n        return 1\n\n\n"
        "def checkout(basket, tax):\n    return basket\n",
        {"LIMIT", "Basket", "size", "__init__", "owner", "total", "checkout"},
    ),
    "javascript": (
        "import x from './a';\nexport function fetchUser(id) {\n  return id;\n}\n"
        "export const formatName = (u) => u.name;\n"
        "class Cache {\n  constructor() {}\n  get(key) {\n    return key;\n  }\n}\n",
        {"fetchUser", "formatName", "Cache", "constructor", "get"},
    ),
    "typescript": (
        "export interface User {\n  id: number;\n  rename(name: string): void;\n}\n"
        "export type Id = string;\nexport enum Role { Admin, Guest }\n"
        "export class Service {\n  private cache = new Map();\n"
        "  find(id: Id): User | undefined {\n    return undefined;\n  }\n}\n",
        {"User", "id", "rename", "Id", "Role", "Service", "cache", "find"},
    ),
    "go": (
        "package store\n\ntype Store struct {\n\tItems []string\n}\n\n"
        "type Reader interface {\n\tRead(k string) string\n}\n\n"
        "const MaxItems = 10\n\nfunc (s *Store) Add(item string) {\n\ts.Items = append(s.Items, item)\n}\n\n"
        "func New() *Store {\n\treturn &Store{}\n}\n",
        {"Store", "Items", "Reader", "Read", "MaxItems", "Add", "New"},
    ),
    "rust": (
        "pub struct Point {\n    pub x: f64,\n}\n\npub trait Shape {\n    fn area(&self) -> f64;\n}\n\n"
        "impl Point {\n    pub fn origin() -> Self {\n        Point { x: 0.0 }\n    }\n}\n\n"
        "pub fn distance(a: &Point) -> f64 {\n    a.x\n}\nconst SCALE: f64 = 2.0;\n",
        {"Point", "x", "Shape", "area", "origin", "distance", "SCALE"},
    ),
    "java": (
        "package a.b;\n\npublic class Account {\n    private int balance = 0;\n\n"
        "    public Account(int b) {\n        balance = b;\n    }\n\n"
        "    public void deposit(int amount) {\n        balance += amount;\n    }\n}\n",
        {"Account", "balance", "deposit"},
    ),
    "csharp": (
        "using System;\nnamespace Acme.Shop\n{\n    public class CartService : ICartService\n    {\n"
        "        private readonly IRepo _repo;\n        public int Count { get; set; }\n"
        "        public CartService(IRepo repo)\n        {\n            _repo = repo;\n        }\n\n"
        "        public async Task<Cart> GetCartAsync(string id)\n"
        "        {\n            return await _repo.Load(id);\n        }\n"
        "    }\n    public enum Status { Open, Paid }\n}\n",
        {"CartService", "_repo", "Count", "GetCartAsync", "Status", "Open", "Paid"},
    ),
    "c": (
        '#include "list.h"\n#define MAX_ITEMS 32\n\ntypedef struct node {\n    int value;\n} node_t;\n\n'
        "static int count_nodes(node_t *head) {\n    return 0;\n}\nint list_push(node_t *n, int v);\n",
        {"MAX_ITEMS", "node_t", "value", "count_nodes", "list_push"},
    ),
    "cpp": (
        "namespace geo {\nclass GEO_EXPORT Shape : public Base\n{\npublic:\n    GEO_NODISCARD\n"
        "    virtual double area() const = 0;\nprivate:\n    int m_id;\n};\n\n"
        "double Shape::perimeter() const {\n    return 0;\n}\n}\n",
        {"geo", "Shape", "area", "m_id", "perimeter"},
    ),
}


@pytest.mark.parametrize("language", sorted(SOURCES))
def test_definitions_per_language(language: str) -> None:
    text, expected = SOURCES[language]
    names = {d.name for d in definitions(text, language)}
    assert expected <= names, expected - names


@pytest.mark.parametrize("language", sorted(SOURCES))
def test_outline_keeps_headers_and_drops_bodies(language: str) -> None:
    text, _ = SOURCES[language]
    rows = outline(text, definitions(text, language), language)
    assert rows
    rendered = "\n".join(r for _, r in rows)
    body_markers = {
        "python": "return basket",
        "javascript": "return key;",
        "typescript": "return undefined",
        "go": "append(s.Items",
        "rust": "Point { x: 0.0 }",
        "java": "balance += amount",
        "csharp": "_repo.Load(id)",
        "c": "return 0;",
        "cpp": "return 0;",
    }
    assert body_markers[language] not in rendered
    lines = [n for n, _ in rows]
    assert lines == sorted(lines)


def test_python_outline_shows_signatures_and_constructor_attributes() -> None:
    text, _ = SOURCES["python"]
    rendered = [r for _, r in outline(text, definitions(text, "python"), "python")]
    assert "class Basket(Base):" in rendered
    assert "    def total(self) -> int: ..." in rendered
    assert "        self.owner = owner" in rendered
    assert "def checkout(basket, tax): ..." in rendered


def test_no_grammar_means_no_definitions_and_keywords_are_never_names() -> None:
    assert definitions("def x(): pass", "markdown") == []
    assert definitions("def x(): pass", None) == []
    names = {d.name for d in definitions("if (x) {\n  return;\n} else {\n}\n", "typescript")}
    assert not names & {"if", "else", "return"}


def test_identifiers_drop_keywords_and_single_letters() -> None:
    assert identifiers("for x in range(n): total = compute_total(items, self)") == [
        "total",
        "compute_total",
        "items",
    ]


def test_header_comment_block_is_measured_and_code_is_not() -> None:
    assert header_comment_lines(["/*", " * Licensed under ...", " */", "", "package a;"]) == 4
    assert header_comment_lines(["// SPDX-License-Identifier: MIT", "// (c) Acme", "", "#include <x>"]) == 3
    assert header_comment_lines(["#!/usr/bin/env python", "# Copyright", "import os"]) == 2
    assert header_comment_lines(["#include <stdio.h>", "int a;"]) == 0  # the preprocessor is code
    assert header_comment_lines(["import os", "# a comment"]) == 0
    assert header_comment_lines(["/* one line */", "int a;"]) == 1


def test_code_only_blanks_comments_and_keeps_strings_and_lines() -> None:
    java = 'String u = "http://x/*y*/"; // note\n/* banner\n * Author: jacky */ int z;\n'
    assert code_only(java, "java") == 'String u = "http://x/*y*/"; \n\n int z;\n'
    py = 'c = "#fff"  # colour\n"""Doc stays."""\n'
    assert code_only(py, "python") == 'c = "#fff"  \n"""Doc stays."""\n'


def test_cpp_header_detection() -> None:
    assert file_language("a/b.h", "int f(void);\n") == "c"
    assert file_language("a/b.h", "namespace x {\nint f();\n}\n") == "cpp"
    assert file_language("a/b.h", "at::Tensor f();\n") == "cpp"
    assert file_language("a/b.hpp", None) == "cpp"


def test_languages_without_a_grammar_get_pattern_definitions() -> None:
    kt = (
        "package acme.shop\n\nclass CartService(private val repo: Repo) : ICartService {\n"
        "    init {\n        log(repo)\n    }\n\n"
        "    suspend fun getCart(id: String): Cart {\n"
        "        return repo.load(id)\n"
        "    }\n"
        "}\n"
    )
    defs = {d.name: d for d in definitions(kt, "kotlin")}
    assert {"CartService", "getCart"} <= defs.keys()
    assert (defs["getCart"].start_line, defs["getCart"].end_line) == (7, 9)
    ruby = "class Basket\n  def add_item(item)\n    @items << item\n  end\nend\n"
    assert {d.name for d in definitions(ruby, "ruby")} == {"Basket", "add_item"}
