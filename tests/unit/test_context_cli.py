"""`qwen-ls context`, the explanation dict, and `qwen-ls bench retrieval` (small runs)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from qwen_ls.bench.retrieval import (
    CcevalBM25,
    defined_names,
    generate_tasks,
    groundtruth_identifiers,
    pack_chunks,
    recall,
)
from qwen_ls.cli import main
from qwen_ls.context import ContextEngine, ContextSettings
from qwen_ls.context.explain import explain, line_col_to_offset
from qwen_ls.context.tokens import approximate_tokens

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
VOCAB = SHARED / "qwen2-vocab" / "ggml-vocab-qwen2.gguf"
CCEVAL = SHARED / "cceval-python"


def make_repo(root: Path) -> Path:
    (root / ".git").mkdir(parents=True)
    (root / "pkg").mkdir()
    (root / "pkg" / "geometry.py").write_text(
        "def area_of_circle(radius):\n    return 3.14159 * radius * radius\n", encoding="utf-8"
    )
    (root / ".env").write_text("SECRET_TOKEN=abc-very-secret\n", encoding="utf-8")
    main_py = root / "pkg" / "main.py"
    main_py.write_text(
        "from pkg.geometry import area_of_circle\n\nprint(area_of_circle(2))\n", encoding="utf-8"
    )
    return main_py


def context_argv(main_py: Path, budget: int, model: Path, *extra: str) -> list[str]:
    """`qwen-ls context` at line 3, column 7 of the test repository's main file."""
    return [
        "context",
        str(main_py),
        "--line",
        "3",
        "--column",
        "7",
        "--budget",
        str(budget),
        "--model",
        str(model),
        *extra,
    ]


def test_line_col_to_offset() -> None:
    text = "ab\ncdé\nx"
    assert line_col_to_offset(text, 1, 1) == 0
    assert line_col_to_offset(text, 2, 3) == 5
    assert line_col_to_offset(text, 2, 99) == 6  # clamped to the end of the line
    assert line_col_to_offset(text, 99, 1) == 7


def test_context_command_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main_py = make_repo(tmp_path / "repo")
    # no --model and no default model on disk: an approximate count, said so on stderr
    rc = main(context_argv(main_py, 300, tmp_path / "missing.gguf", "--json"))
    assert rc == 0
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert report["file"] == "pkg/main.py"
    assert report["repo"] == "repo"
    assert report["budget"] == 300 and report["used"] <= 300
    assert "approximate" in report["token_counts"]
    snippets = report["snippets"]
    assert snippets
    for s in snippets:
        assert {"path", "start_line", "end_line", "text", "source", "score", "tokens"} <= s.keys()
    assert any(s["path"] == "pkg/geometry.py" and "def area_of_circle(radius)" in s["text"] for s in snippets)
    assert "very-secret" not in out.out
    assert sum(report["budget_split"].values()) == 300


def test_context_command_text_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main_py = make_repo(tmp_path / "repo")
    assert main(context_argv(main_py, 300, tmp_path / "none.gguf")) == 0
    text = capsys.readouterr().out
    assert "pkg/geometry.py:1-" in text and "budget split" in text
    assert main(["context", str(tmp_path / "nope.py"), "--line", "1"]) == 1


@pytest.mark.slow
@pytest.mark.skipif(
    not VOCAB.is_file(), reason="needs ../shared/data/qwen2-vocab (not part of the repository)"
)
def test_context_command_exact_tokens(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main_py = make_repo(tmp_path / "repo")
    assert main(context_argv(main_py, 200, VOCAB, "--json")) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["token_counts"].startswith("exact")
    assert report["used"] <= 200


def test_explain_for_the_lsp_command(tmp_path: Path) -> None:
    main_py = make_repo(tmp_path / "repo")
    engine = ContextEngine(ContextSettings(), approximate_tokens)
    engine.set_roots([tmp_path / "repo"])
    engine.build_index()
    text = main_py.read_text()
    report = explain(engine, main_py, text, text.index("(2)"), 400)
    json.dumps(report)  # JSON-able
    assert report["cursor"] == {"line": 3, "column": 21}
    assert report["snippets"][0]["reason"]


def test_scoring_helpers() -> None:
    assert groundtruth_identifiers("fuse(self.a, self.a)") == ["fuse", "self", "a"]
    assert recall(["fuse", "scale"], "def fuse(x): ...") == 0.5
    assert recall(["fuse"], "def fused(x): ...") == 0.0
    text, used = pack_chunks([("a.py", "x = 1\n" * 50), ("b.py", "y = 2\n")], 40, approximate_tokens)
    assert used <= 40 and "y = 2" not in text
    assert {"Basket", "total", "owner", "LIMIT"} <= defined_names(
        "LIMIT = 1\nclass Basket:\n    def __init__(self):\n        self.owner = 1\n"
        "    def total(self): pass\n",
        "python",
    )


def test_generated_tasks_cut_before_a_cross_file_name(tmp_path: Path) -> None:
    files = {
        "lib.py": "def helper_fn(x):\n    return x\n",
        "app.py": (
            "from lib import helper_fn\n\n\ndef run(value):\n"
            "    total = helper_fn(value) + 1\n    return total\n"
        ),
    }
    langs = {"lib.py": "python", "app.py": "python"}
    defined = {rel: defined_names(t, "python") for rel, t in files.items()}
    tasks = generate_tasks(tmp_path, files, langs, defined, 5, 1)
    assert len(tasks) == 1
    task = tasks[0]
    assert task.file == "app.py"
    assert task.prompt.endswith("    total = ") and task.groundtruth == "helper_fn(value) + 1"
    assert files["app.py"].startswith(task.prompt + task.groundtruth)


def test_generated_tasks_are_never_in_comments_docstrings_or_imports(tmp_path: Path) -> None:
    files = {
        "lib.py": "def helper_fn(x):\n    return x\n",
        "Util.java": "class Util {\n    static int helperFn(int x) { return x; }\n}\n",
        "app.py": '"""Calls helper_fn on values."""\n\n\ndef run(value):\n    """Uses helper_fn here."""\n'
        "    # helper_fn again\n    return 1\n",
        "App.java": (
            "/**\n * Calls helperFn on values.\n */\nclass App {\n    // helperFn\n    int x = 1;\n}\n"
        ),
    }
    files["util.rs"] = "pub fn parse_all() {}\n"
    files["main.rs"] = "pub use crate::util::parse_all;\npub(crate) use util::parse_all as p;\n"
    files["main.rs"] += "extern crate parse_all;\n"
    langs = {"lib.py": "python", "app.py": "python", "Util.java": "java", "App.java": "java"}
    langs |= {"util.rs": "rust", "main.rs": "rust"}
    defined = {rel: defined_names(t, langs[rel]) for rel, t in files.items()}
    assert generate_tasks(tmp_path, files, langs, defined, 5, 1) == []


def test_cceval_style_anchor_finds_similar_windows() -> None:
    bm = CcevalBM25(
        {"a.py": "def alpha_beta():\n    gamma_delta = 1\n", "b.py": "zzz = 2\n", "c.py": "q = 1\n"}
    )
    top = bm.top("x = 1\nalpha_beta()\n", exclude="c.py")
    assert top and top[0][0] == "a.py"


def test_bench_retrieval_on_a_tiny_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "src" / "acme-shop-1234567"
    repo.mkdir(parents=True)
    (repo / "money.py").write_text("def compute_total(items):\n    return sum(items)\n", encoding="utf-8")
    body = "from money import compute_total\n\n\ndef checkout(items):\n    return compute_total(items)\n"
    (repo / "cart.py").write_text(body, encoding="utf-8")
    data = tmp_path / "data"
    (data / "repos").mkdir(parents=True)
    with tarfile.open(data / "repos" / "acme-shop-1234567.tar.gz", "w:gz") as tf:
        tf.add(repo, arcname="acme-shop-1234567")
    cut = body.index("compute_total(items)\n")
    row = {
        "prompt": body[:cut],
        "groundtruth": "compute_total(items)",
        "right_context": "\n",
        "metadata": {"task_id": "t/1", "repository": "acme-shop-1234567", "file": "cart.py"},
        "crossfile_context": {
            "text": "",
            "list": [{"retrieved_chunk": "x = 1", "filename": "other.py", "score": 1.0}],
        },
    }
    (data / "examples.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    rc = main(
        [
            "bench",
            "retrieval",
            "--data",
            str(data),
            "--budget",
            "256",
            "--json",
            "--vocab",
            str(tmp_path / "no.gguf"),
        ]
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_tasks"] == 1 and report["budget"] == 256
    assert report["recall"] == 1.0 and report["anchor_recall"] == 0.0
    assert "approximate" in report["tokens"]


def test_bench_synthetic_workspace_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "bench",
            "retrieval",
            "--synthetic-workspace",
            "--files",
            "60",
            "--requests",
            "10",
            "--json",
            "--budget",
            "256",
            "--vocab",
            str(tmp_path / "no.gguf"),
        ]
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["indexed_files"] == 60
    assert report["retrieve_ms_p95"] >= report["retrieve_ms_p50"] >= 0
    assert 0 <= report["typing_context_reuse_rate"] <= 1


@pytest.mark.slow
@pytest.mark.skipif(not (CCEVAL / "examples.jsonl").is_file(), reason="needs ../shared/data/cceval-python")
def test_bench_retrieval_beats_the_cceval_anchor(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "retrieval", "--data", str(CCEVAL), "--budget", "1024", "--json", "--generated", "0"]
    if VOCAB.is_file():
        args += ["--vocab", str(VOCAB)]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_tasks"] >= 15
    assert report["recall"] >= report["anchor_recall"] + 0.15
