"""Import extraction and resolution to workspace files, one block per language."""

from __future__ import annotations

import posixpath

from qwen_ls.context.imports import extract_imports, resolve_import

ROOT = "/ws"


class Files:
    """An in-memory FileSet over a list of workspace-relative paths."""

    def __init__(
        self,
        rels: list[str],
        go_mods: dict[str, str] | None = None,
        namespaces: dict[str, list[str]] | None = None,
    ) -> None:
        self.paths = {f"{ROOT}/{r}" for r in rels}
        self._go = [(m, f"{ROOT}/{d}".rstrip("/")) for m, d in (go_mods or {}).items()]
        self._namespaces = {ns: [f"{ROOT}/{r}" for r in rels] for ns, rels in (namespaces or {}).items()}
        self.aliases: list[tuple[str, str, list[str]]] = []

    def exists(self, path: str) -> bool:
        return path in self.paths

    def by_name(self, name: str) -> list[str]:
        return sorted(p for p in self.paths if posixpath.basename(p) == name)

    def in_dir(self, directory: str) -> list[str]:
        return sorted(p for p in self.paths if posixpath.dirname(p) == directory)

    def root_dirs(self) -> list[str]:
        return [ROOT]

    def go_modules(self) -> list[tuple[str, str]]:
        return self._go

    def in_namespace(self, namespace: str) -> list[str]:
        return sorted(self._namespaces.get(namespace, []))

    def js_aliases(self) -> list[tuple[str, str, list[str]]]:
        return self.aliases

    def by_suffix_dir(self, tail: str) -> list[str]:
        return sorted(p for p in self.paths if posixpath.dirname(p).endswith("/" + tail))


def resolved(files: Files, current: str, text: str, language: str) -> set[str]:
    out: set[str] = set()
    for ref in extract_imports(text, language):
        for _local, path in resolve_import(files, f"{ROOT}/{current}", ref, language):
            out.add(path[len(ROOT) + 1 :])
    return out


def test_python_absolute_relative_and_submodule_imports() -> None:
    files = Files(["pkg/__init__.py", "pkg/animations.py", "pkg/util/helpers.py", "pkg/panel.py", "other.py"])
    text = (
        "import os\n"
        "from . import animations as anims\n"
        "from .util.helpers import clamp, (lerp)\n"
        "from pkg import panel\n"
        "import other\n"
        "from numpy import array\n"
    )
    assert resolved(files, "pkg/view.py", text, "python") == {
        "pkg/animations.py",
        "pkg/util/helpers.py",
        "pkg/panel.py",
        "other.py",
    }


def test_python_binds_local_names() -> None:
    files = Files(["pkg/animations.py", "pkg/view.py"])
    refs = extract_imports("from . import animations as anims\n", "python")
    assert refs[0].bindings == (("anims", "animations"),)
    assert resolve_import(files, f"{ROOT}/pkg/view.py", refs[0], "python") == [
        ("anims", f"{ROOT}/pkg/animations.py")
    ]


def test_python_parent_relative_and_src_layout() -> None:
    files = Files(["src/app/core/models.py", "src/app/api/routes.py", "src/app/__init__.py"])
    text = "from ..core.models import User\nfrom app.core import models\n"
    assert resolved(files, "src/app/api/routes.py", text, "python") == {"src/app/core/models.py"}


def test_typescript_tsconfig_paths_and_base_url() -> None:
    from qwen_ls.context.index import parse_tsconfig_paths

    tsconfig = """{
      // comments and trailing commas, as tsc allows
      "compilerOptions": {
        "baseUrl": "./src",
        "paths": { "@components/*": ["components/*"], "@config": ["config/index.ts"], },
      },
    }"""
    files = Files(
        [
            "web/src/components/button.tsx",
            "web/src/config/index.ts",
            "web/src/lib/http.ts",
            "web/src/pages/home.tsx",
        ]
    )
    files.aliases = [(f"{ROOT}/web", p, t) for p, t in parse_tsconfig_paths(tsconfig, f"{ROOT}/web")]
    text = (
        "import { Button } from '@components/button';\n"
        "import config from '@config';\n"
        "import { get } from 'lib/http';\n"  # through baseUrl
        "import React from 'react';\n"
    )
    assert resolved(files, "web/src/pages/home.tsx", text, "typescriptreact") == {
        "web/src/components/button.tsx",
        "web/src/config/index.ts",
        "web/src/lib/http.ts",
    }
    assert parse_tsconfig_paths("{ not json", "/x") == []


def test_javascript_relative_index_and_require() -> None:
    files = Files(["src/util/index.js", "src/api.js", "src/components/Button.jsx", "src/main.js"])
    text = (
        "import api from './api';\n"
        "import { Button } from './components/Button';\n"
        "const util = require('./util');\n"
        "import React from 'react';\n"
    )
    assert resolved(files, "src/main.js", text, "javascript") == {
        "src/api.js",
        "src/components/Button.jsx",
        "src/util/index.js",
    }


def test_typescript_js_extension_maps_to_ts_and_alias() -> None:
    files = Files(["src/lib/math.ts", "src/types.d.ts", "src/app.ts", "src/store/index.ts"])
    text = (
        "import { add } from './lib/math.js';\nimport type { T } from './types';\nexport * from '@/store';\n"
    )
    assert resolved(files, "src/app.ts", text, "typescript") == {
        "src/lib/math.ts",
        "src/types.d.ts",
        "src/store/index.ts",
    }


def test_go_package_through_go_mod() -> None:
    files = Files(
        [
            "go.mod",
            "internal/store/store.go",
            "internal/store/store_test.go",
            "internal/store/kv.go",
            "cmd/main.go",
        ]
    )
    text = 'package main\n\nimport (\n\t"fmt"\n\tst "example.com/app/internal/store"\n)\n'
    got = resolved(
        Files(sorted(p[len(ROOT) + 1 :] for p in files.paths), {"example.com/app": ""}),
        "cmd/main.go",
        text,
        "go",
    )
    assert got == {"internal/store/store.go", "internal/store/kv.go"}
    refs = extract_imports(text, "go")
    assert ("st", None) in refs[-1].bindings


def test_go_single_import_without_go_mod() -> None:
    files = Files(["pkg/util/strings.go", "main.go"])
    assert resolved(files, "main.go", 'package main\nimport "github.com/x/y/pkg/util"\n', "go") == {
        "pkg/util/strings.go"
    }


def test_rust_crate_super_and_mod() -> None:
    files = Files(
        [
            "Cargo.toml",
            "src/lib.rs",
            "src/net/mod.rs",
            "src/net/client.rs",
            "src/config.rs",
            "src/net/http.rs",
        ]
    )
    text = "use crate::config::Settings;\nuse self::http::{get, post as p};\nmod client;\nuse std::fmt;\n"
    assert resolved(files, "src/net/mod.rs", text, "rust") == {
        "src/config.rs",
        "src/net/http.rs",
        "src/net/client.rs",
    }
    # in net/client.rs, `super` is the `net` module
    assert resolved(files, "src/net/client.rs", "use super::http::get;\n", "rust") == {"src/net/http.rs"}


def test_rust_mod_from_non_mod_file() -> None:
    files = Files(["src/main.rs", "src/parser.rs", "src/parser/lexer.rs"])
    assert resolved(files, "src/parser.rs", "mod lexer;\n", "rust") == {"src/parser/lexer.rs"}
    assert resolved(files, "src/main.rs", "mod parser;\nuse crate::parser::lexer::Token;\n", "rust") == {
        "src/parser.rs",
        "src/parser/lexer.rs",
    }


def test_java_class_static_and_wildcard() -> None:
    files = Files(
        [
            "src/main/java/com/acme/model/User.java",
            "src/main/java/com/acme/model/Order.java",
            "src/main/java/com/acme/util/Strings.java",
            "src/main/java/com/acme/App.java",
        ]
    )
    text = (
        "package com.acme;\n"
        "import com.acme.model.User;\n"
        "import static com.acme.util.Strings.join;\n"
        "import java.util.List;\n"
    )
    assert resolved(files, "src/main/java/com/acme/App.java", text, "java") == {
        "src/main/java/com/acme/model/User.java",
        "src/main/java/com/acme/util/Strings.java",
    }
    star = resolved(files, "src/main/java/com/acme/App.java", "import com.acme.model.*;\n", "java")
    assert star == {"src/main/java/com/acme/model/User.java", "src/main/java/com/acme/model/Order.java"}


def test_csharp_usings_resolve_to_the_files_declaring_the_namespace() -> None:
    files = Files(
        [
            "src/Acme.Core/Models/Order.cs",
            "src/Acme.Core/Models/Customer.cs",
            "src/Acme.Core/Services/Billing.cs",
            "src/Acme.Web/Program.cs",
            "Assets/Scripts/Quests/QuestLog.cs",
        ],
        namespaces={
            "Acme.Core.Models": ["src/Acme.Core/Models/Order.cs", "src/Acme.Core/Models/Customer.cs"]
        },
    )
    text = (
        "using System;\nusing System.Collections.Generic;\n"
        "using Acme.Core.Models;\n"  # declared by two files
        "using static Acme.Core.Services.Billing;\n"  # a type: its file
        "using Log = Game.Quests.QuestLog;\n"  # alias of a type: its file
        "using UnityEngine;\n"
    )
    assert resolved(files, "src/Acme.Web/Program.cs", text, "csharp") == {
        "src/Acme.Core/Models/Order.cs",
        "src/Acme.Core/Models/Customer.cs",
        "src/Acme.Core/Services/Billing.cs",
        "Assets/Scripts/Quests/QuestLog.cs",
    }
    # no file declares the namespace: the folder that mirrors it
    assert resolved(files, "src/Acme.Web/Program.cs", "using Acme.Core.Services;\n", "csharp") == {
        "src/Acme.Core/Services/Billing.cs"
    }
    assert [r.spec for r in extract_imports("global using Acme.Core;\n", "csharp")] == ["Acme.Core"]


def test_c_quoted_and_angle_includes() -> None:
    files = Files(["src/list.c", "src/list.h", "include/proj/config.h", "src/util/str.h"])
    text = '#include <stdio.h>\n#include "list.h"\n#include <proj/config.h>\n#include "util/str.h"\n'
    assert resolved(files, "src/list.c", text, "c") == {
        "src/list.h",
        "include/proj/config.h",
        "src/util/str.h",
    }


def test_cpp_include_found_by_path_suffix() -> None:
    files = Files(["core/include/rp/algebra/tensor.hpp", "core/src/tensor.cpp", "core/src/detail.hpp"])
    text = '#include "rp/algebra/tensor.hpp"\n#include "detail.hpp"\n#include <vector>\n'
    assert resolved(files, "core/src/tensor.cpp", text, "cpp") == {
        "core/include/rp/algebra/tensor.hpp",
        "core/src/detail.hpp",
    }


def test_unknown_language_has_no_imports() -> None:
    assert extract_imports("require 'x'\n", "ruby") == []
