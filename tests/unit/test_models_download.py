"""Model resolution and downloads against a local HTTP server on 127.0.0.1 serving a synthetic model.

Covers: offline by default (no request at all without download=True), a plain download, a transfer cut
mid-body that resumes with an HTTP Range request (within one call and across calls), corrupt files
rejected by sha256 (from the catalog or from the Hub's X-Linked-Etag) and not left in place, split
models, and files found in the Hugging Face / llama.cpp caches.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from qwen_ls.models import ModelError, resolve_model, validate_model
from qwen_ls.models.catalog import Catalog, CatalogEntry, CatalogFile, load_catalog, parse_catalog
from qwen_ls.models.download import download_file
from qwen_ls.models.resolve import download_entry, find_local

REPO = "test-org/Tiny-GGUF"


@dataclass
class FakeHub:
    """What the local server serves and how it misbehaves."""

    files: dict[str, bytes] = field(default_factory=dict)
    #: file name -> bytes of the body to send before closing the connection, for the next request only.
    cut_next: dict[str, int] = field(default_factory=dict)
    #: Serve these bytes instead of the real ones (the etag still describes the real ones).
    corrupt: dict[str, bytes] = field(default_factory=dict)
    ignore_range: bool = False
    #: Answer every Range request with 206 from byte 0 (a broken server or proxy).
    wrong_range: bool = False
    send_etag: bool = True
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            with hub.lock:
                hub.requests.append((self.path, self.headers.get("Range")))
            m = re.match(rf"^/{re.escape(REPO)}/resolve/main/(.+)$", self.path)
            if m:  # like the Hub: a redirect to the CDN carrying the LFS sha256 and size
                name = m[1]
                if name not in hub.files:
                    self.send_error(404)
                    return
                self.send_response(302)
                self.send_header("Location", f"/cdn/{name}")
                if hub.send_etag:
                    self.send_header("X-Linked-Etag", f'"{hashlib.sha256(hub.files[name]).hexdigest()}"')
                self.send_header("X-Linked-Size", str(len(hub.files[name])))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            m = re.match(r"^/cdn/(.+)$", self.path)
            if not m or m[1] not in hub.files:
                self.send_error(404)
                return
            name = m[1]
            body = hub.corrupt.get(name, hub.files[name])
            start = 0
            rng = self.headers.get("Range")
            if rng and not hub.ignore_range:
                start = 0 if hub.wrong_range else int(re.match(r"bytes=(\d+)-", rng)[1])  # type: ignore[index]
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            payload = body[start:]
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            cut = hub.cut_next.pop(name, None)
            try:
                if cut is not None:
                    self.wfile.write(payload[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up on this body (a restart or cancel)

    return Handler


@pytest.fixture
def hub() -> Iterator[tuple[FakeHub, str]]:
    state = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every cache location points into tmp_path; no proxy can intercept 127.0.0.1."""
    for var in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HUGGINGFACE_HUB_CACHE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QWEN_LS_MODELS_DIR", str(tmp_path / "qwen-ls"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("LLAMA_CACHE", str(tmp_path / "llama"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr("qwen_ls.models.download.RETRY_BACKOFF_S", 0.01)
    return tmp_path


def _catalog(files: list[str], sha: dict[str, str] | None = None) -> Catalog:
    entry = CatalogEntry(
        name="tiny-test",
        kind="base",
        params="10M",
        repo=REPO,
        files=tuple(CatalogFile(f, None, (sha or {}).get(f)) for f in files),
        quantization="Q8_0",
        approx_size_gb=0.01,
        ram_gb=0.1,
        context_length=32768,
    )
    return Catalog(models=(entry,), default_completion="tiny-test", default_repair="")


@pytest.fixture
def served(
    hub: tuple[FakeHub, str], tiny_model: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> FakeHub:
    state, url = hub
    state.files["tiny-q8_0.gguf"] = tiny_model.read_bytes()
    monkeypatch.setenv("QWEN_LS_HF_ENDPOINT", url)
    return state


def test_offline_by_default_makes_no_request(served: FakeHub) -> None:
    with pytest.raises(ModelError) as info:
        resolve_model("tiny-test", catalog=_catalog(["tiny-q8_0.gguf"]))
    assert "--download" in info.value.fix and "modelDownload" in info.value.fix
    assert "tiny-test" in info.value.message
    assert served.requests == []


def test_plain_download_then_found_offline(served: FakeHub, isolated: Path) -> None:
    seen: list[tuple[int, int]] = []
    cat = _catalog(["tiny-q8_0.gguf"])
    path = resolve_model("tiny-test", download=True, progress=lambda d, t: seen.append((d, t)), catalog=cat)
    size = len(served.files["tiny-q8_0.gguf"])
    assert path == isolated / "qwen-ls" / "tiny-q8_0.gguf"
    assert path.read_bytes() == served.files["tiny-q8_0.gguf"]
    assert seen[-1] == (size, size) and all(t == size for _, t in seen)
    assert not list(path.parent.glob("*.part"))
    assert validate_model(path).architecture == "qwen2"
    n = len(served.requests)
    assert resolve_model("tiny-test", catalog=cat) == path  # now on disk: no request
    assert len(served.requests) == n


def test_interrupted_transfer_resumes_with_range(served: FakeHub) -> None:
    data = served.files["tiny-q8_0.gguf"]
    served.cut_next["tiny-q8_0.gguf"] = 5_000_000
    path = resolve_model("tiny-test", download=True, catalog=_catalog(["tiny-q8_0.gguf"]))
    assert path.read_bytes() == data
    ranges = [r for p, r in served.requests if p.startswith("/cdn/")]
    assert ranges == [None, "bytes=5000000-"]


def test_resume_across_calls_keeps_the_part_file(served: FakeHub, isolated: Path) -> None:
    data = served.files["tiny-q8_0.gguf"]
    served.cut_next["tiny-q8_0.gguf"] = 3_000_000
    cat = _catalog(["tiny-q8_0.gguf"])
    with pytest.raises(ModelError, match="failed after 1 attempt") as info:
        download_entry(cat.models[0], retries=0)
    assert "resumes" in info.value.fix
    part = isolated / "qwen-ls" / "tiny-q8_0.gguf.part"
    assert part.stat().st_size == 3_000_000
    assert not (isolated / "qwen-ls" / "tiny-q8_0.gguf").exists()
    path = download_entry(cat.models[0], retries=0)
    assert path.read_bytes() == data
    assert [r for p, r in served.requests if p.startswith("/cdn/")] == [None, "bytes=3000000-"]


def test_server_ignoring_range_restarts_cleanly(served: FakeHub) -> None:
    served.cut_next["tiny-q8_0.gguf"] = 1_000_000
    served.ignore_range = True
    path = resolve_model("tiny-test", download=True, catalog=_catalog(["tiny-q8_0.gguf"]))
    assert path.read_bytes() == served.files["tiny-q8_0.gguf"]


def test_corrupt_file_rejected_by_catalog_sha256(served: FakeHub, isolated: Path) -> None:
    data = served.files["tiny-q8_0.gguf"]
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0xFF
    served.corrupt["tiny-q8_0.gguf"] = bytes(bad)
    served.send_etag = False
    cat = _catalog(["tiny-q8_0.gguf"], {"tiny-q8_0.gguf": hashlib.sha256(data).hexdigest()})
    with pytest.raises(ModelError, match="corrupt: sha256") as info:
        resolve_model("tiny-test", download=True, catalog=cat)
    assert "deleted" in info.value.message
    folder = isolated / "qwen-ls"
    assert not (folder / "tiny-q8_0.gguf").exists()
    assert not (folder / "tiny-q8_0.gguf.part").exists()


def test_corrupt_file_rejected_by_hub_etag(served: FakeHub, isolated: Path) -> None:
    bad = bytearray(served.files["tiny-q8_0.gguf"])
    bad[-100] ^= 0x01
    served.corrupt["tiny-q8_0.gguf"] = bytes(bad)
    with pytest.raises(ModelError, match="corrupt: sha256"):
        resolve_model("tiny-test", download=True, catalog=_catalog(["tiny-q8_0.gguf"]))
    folder = isolated / "qwen-ls"
    assert not (folder / "tiny-q8_0.gguf").exists() and not (folder / "tiny-q8_0.gguf.part").exists()


def test_truncated_gguf_is_rejected_even_without_hashes(served: FakeHub, isolated: Path) -> None:
    data = served.files["tiny-q8_0.gguf"]
    served.files["tiny-q8_0.gguf"] = data[: len(data) - 4096]  # the server itself has a short file
    served.send_etag = False
    with pytest.raises(ModelError, match="not a usable GGUF"):
        resolve_model("tiny-test", download=True, catalog=_catalog(["tiny-q8_0.gguf"]))
    assert not (isolated / "qwen-ls" / "tiny-q8_0.gguf").exists()


def test_missing_remote_file_is_404(served: FakeHub) -> None:
    with pytest.raises(ModelError, match="HTTP 404"):
        resolve_model("tiny-test", download=True, catalog=_catalog(["absent.gguf"]))


def test_cancel_keeps_the_part_for_later(served: FakeHub, isolated: Path) -> None:
    class CancelAfter:
        """Says "cancelled" from its 20th poll on (the download polls once per received chunk)."""

        def __init__(self) -> None:
            self.polls = 0

        @property
        def cancelled(self) -> bool:
            self.polls += 1
            return self.polls >= 20

    with pytest.raises(ModelError, match="cancelled"):
        resolve_model("tiny-test", download=True, cancel=CancelAfter(), catalog=_catalog(["tiny-q8_0.gguf"]))
    part = isolated / "qwen-ls" / "tiny-q8_0.gguf.part"
    assert part.exists() and 0 < part.stat().st_size < len(served.files["tiny-q8_0.gguf"])
    path = resolve_model("tiny-test", download=True, catalog=_catalog(["tiny-q8_0.gguf"]))
    assert path.read_bytes() == served.files["tiny-q8_0.gguf"]


def test_split_model_downloads_every_shard(served: FakeHub, isolated: Path) -> None:
    served.files["m-00001-of-00002.gguf"] = served.files["tiny-q8_0.gguf"]
    served.files["m-00002-of-00002.gguf"] = served.files["tiny-q8_0.gguf"]
    cat = _catalog(["m-00001-of-00002.gguf", "m-00002-of-00002.gguf"])
    seen: list[tuple[int, int]] = []
    path = resolve_model("tiny-test", download=True, catalog=cat, progress=lambda d, t: seen.append((d, t)))
    assert path.name == "m-00001-of-00002.gguf"
    assert (path.parent / "m-00002-of-00002.gguf").is_file()
    # One progress over both files: bytes only grow, and the end is the sum of both.
    size = len(served.files["tiny-q8_0.gguf"])
    assert seen[-1] == (2 * size, 2 * size)
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(seen))
    assert any(d == size for d, _ in seen)  # the first shard's end, within the combined count


def test_direct_download_with_expected_size_mismatch(
    served: FakeHub, tmp_path: Path, hub: tuple[FakeHub, str]
) -> None:
    url = f"{hub[1]}/cdn/tiny-q8_0.gguf"
    with pytest.raises(ModelError, match="wrong size"):
        download_file(url, tmp_path / "x.gguf", expected_size=123)
    assert not (tmp_path / "x.gguf").exists()


def test_found_in_hugging_face_cache(isolated: Path, tiny_model: Path, served: FakeHub) -> None:
    snap = isolated / "hf-hub" / f"models--{REPO.replace('/', '--')}" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "tiny-q8_0.gguf").symlink_to(tiny_model)
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text("abc123")
    assert resolve_model("tiny-test", catalog=_catalog(["tiny-q8_0.gguf"])) == snap / "tiny-q8_0.gguf"
    assert served.requests == []


def test_found_in_llama_cpp_cache(isolated: Path, tiny_model: Path) -> None:
    cache = isolated / "llama"
    cache.mkdir()
    flat = cache / f"{REPO.replace('/', '_')}_tiny-q8_0.gguf"
    flat.symlink_to(tiny_model)
    cat = _catalog(["tiny-q8_0.gguf"])
    assert find_local(cat.models[0]) == flat


def test_incomplete_split_in_cache_is_not_found(isolated: Path, tiny_model: Path) -> None:
    folder = isolated / "qwen-ls"
    folder.mkdir()
    (folder / "m-00001-of-00002.gguf").symlink_to(tiny_model)
    cat = _catalog(["m-00001-of-00002.gguf", "m-00002-of-00002.gguf"])
    assert find_local(cat.models[0]) is None


def test_paths_and_unknown_names(isolated: Path, tiny_model: Path) -> None:
    assert resolve_model(str(tiny_model)) == tiny_model
    with pytest.raises(ModelError, match="model file not found"):
        resolve_model(str(isolated / "nope.gguf"))
    with pytest.raises(ModelError, match="unknown model 'qwen9'") as info:
        resolve_model("qwen9")
    assert "qwen2.5-coder-1.5b" in info.value.fix
    with pytest.raises(ModelError, match="no model given"):
        resolve_model("  ")


def test_shipped_catalog_is_consistent() -> None:
    cat = load_catalog()
    assert cat.default_completion == "qwen2.5-coder-1.5b"
    entry = cat.get("qwen2.5-coder-1.5b")
    assert entry is not None and entry.quantization == "Q8_0" and entry.kind == "base"
    sizes = ("0.5b", "1.5b", "3b", "7b", "14b", "32b")
    for size in sizes:
        base, inst = cat.get(f"qwen2.5-coder-{size}"), cat.get(f"qwen2.5-coder-{size}-instruct")
        assert base is not None and base.kind == "base"
        assert inst is not None and inst.kind == "instruct" and inst.repo.startswith("Qwen/")
        expected = "Q8_0" if size in ("0.5b", "1.5b", "3b") else "Q4_K_M"
        assert base.quantization == inst.quantization == expected
    for e in cat.models:
        assert all(f.name.endswith(".gguf") for f in e.files)
        assert e.ram_gb > e.approx_size_gb > 0
        for f in e.files:
            assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256)
        if e.split:
            n = len(e.files)
            assert [f.name[-len("-00001-of-00002.gguf") :] for f in e.files] == [
                f"-{i:05d}-of-{n:05d}.gguf" for i in range(1, n + 1)
            ]


def test_packaged_catalog_matches_top_level_copy() -> None:
    root = Path(__file__).resolve().parents[2]
    top = root / "models" / "catalog.json"
    packaged = root / "qwen_ls" / "models" / "catalog.json"
    if not top.is_file():
        pytest.skip("not running from a source checkout")
    assert top.read_bytes() == packaged.read_bytes(), (
        "copy models/catalog.json to qwen_ls/models/catalog.json"
    )


def test_catalog_rejects_bad_defaults() -> None:
    raw = {
        "models": [{"name": "a", "kind": "base", "repo": "o/r", "files": [{"name": "a.gguf"}]}],
        "defaults": {"completion": "b"},
    }
    with pytest.raises(ValueError, match="not in the catalog"):
        parse_catalog(raw)


def test_models_cli_download_path_list_validate(
    served: FakeHub, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from qwen_ls.cli import main

    cat = _catalog(["tiny-q8_0.gguf"])
    monkeypatch.setattr("qwen_ls.models.load_catalog", lambda: cat)
    monkeypatch.setattr("qwen_ls.models.resolve.load_catalog", lambda: cat)

    assert main(["models", "path", "tiny-test"]) == 1
    err = capsys.readouterr().err
    assert "not on this machine" in err and "--download" in err
    assert served.requests == []

    assert main(["models", "download", "tiny-test"]) == 0
    out = capsys.readouterr()
    target = isolated / "qwen-ls" / "tiny-q8_0.gguf"
    assert out.out.strip() == str(target) and target.is_file()
    assert "tiny-test" in out.err and "100%" in out.err  # progress bar on stderr, not stdout

    assert main(["models", "path", "tiny-test"]) == 0
    assert capsys.readouterr().out.strip() == str(target)

    assert main(["models", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["models"][0]["path"] == str(target) and listing["models"][0]["default"] == "completion"

    assert main(["models", "validate", "tiny-test", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["fimIds"]["<|fim_prefix|>"] == 151659 and summary["architecture"] == "qwen2"

    n = len(served.requests)
    assert main(["models", "download", "tiny-test"]) == 0  # already there: no request
    assert len(served.requests) == n
    capsys.readouterr()
    assert main(["models", "download", "tiny-test", "--force"]) == 0
    assert len(served.requests) > n


def test_importing_models_stays_light() -> None:
    """qwen_ls.models is on the server's start-up path: no httpx, numpy or gguf until needed."""
    import subprocess
    import sys

    code = (
        "import sys, qwen_ls.models; print(sorted(m for m in ('httpx', 'numpy', 'gguf') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_hf_spec_downloads_any_hub_file(served: FakeHub, isolated: Path) -> None:
    spec = f"hf:{REPO}/tiny-q8_0.gguf"
    with pytest.raises(ModelError, match="not on this machine") as info:
        resolve_model(spec)
    assert "--download" in info.value.fix and served.requests == []
    path = resolve_model(spec, download=True)
    assert path == isolated / "qwen-ls" / "tiny-q8_0.gguf"
    assert path.read_bytes() == served.files["tiny-q8_0.gguf"]
    # A first shard brings its siblings.
    from qwen_ls.models.resolve import hf_entry

    entry = hf_entry(f"hf:{REPO}/q-00001-of-00003.gguf")
    assert [f.name for f in entry.files] == [f"q-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    with pytest.raises(ModelError, match="cannot read model spec"):
        resolve_model("hf:only-owner/file.gguf")


def test_server_answering_the_wrong_range_does_not_loop(served: FakeHub, isolated: Path) -> None:
    served.cut_next["tiny-q8_0.gguf"] = 1_000_000
    served.wrong_range = True
    cat = _catalog(["tiny-q8_0.gguf"])
    # The cut leaves a .part; the resume is answered from byte 0 with 206: the .part is dropped and the
    # next attempt starts over with a plain request, which completes. Without retries left: an error.
    path = download_entry(cat.models[0], retries=2)
    assert path.read_bytes() == served.files["tiny-q8_0.gguf"]
    (isolated / "qwen-ls" / "tiny-q8_0.gguf").unlink()
    (isolated / "qwen-ls" / "tiny-q8_0.gguf.part").write_bytes(b"x" * 10)
    with pytest.raises(ModelError, match=r"failed after 1 attempt.*wrong range"):
        download_entry(cat.models[0], retries=0)
