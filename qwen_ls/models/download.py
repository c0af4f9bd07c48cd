"""Resumable, verified model downloads over HTTP (httpx), only ever on explicit request.

A file is fetched into `<dest>.part`, resumed with an HTTP Range request after an interruption (within
one call, up to `retries` times, and across calls: the `.part` stays), checked (size; sha256 from the
catalog, else the sha256 Hugging Face reports for LFS files in `X-Linked-Etag`; a GGUF header whose
tensor data fits the file), and only then renamed into place. A file that fails a check is deleted.
The Hub's address can be overridden with QWEN_LS_HF_ENDPOINT (tests point it at 127.0.0.1).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from qwen_ls.models.errors import ModelError

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
DEFAULT_ENDPOINT = "https://huggingface.co"
ENDPOINT_ENV = "QWEN_LS_HF_ENDPOINT"
_CHUNK = 1 << 20
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
#: First pause before resuming an interrupted transfer (doubles per attempt, at most 8x).
RETRY_BACKOFF_S = 1.0


def hf_endpoint() -> str:
    return (os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT).rstrip("/")


def hf_url(repo: str, filename: str, revision: str = "main") -> str:
    return f"{hf_endpoint()}/{repo}/resolve/{quote(revision, safe='')}/{quote(filename)}"


def is_cancelled(cancel: Any) -> bool:
    """True if `cancel` (a CancelToken, a threading.Event, or None) says stop."""
    if cancel is None:
        return False
    flag = getattr(cancel, "cancelled", None)
    if isinstance(flag, bool):
        return flag
    is_set = getattr(cancel, "is_set", None)
    return bool(is_set()) if callable(is_set) else False


def _linked_header(responses: list[Any], name: str) -> str | None:
    for r in responses:
        value = r.headers.get(name)
        if value:
            return str(value)
    return None


def _server_sha256(responses: list[Any]) -> str | None:
    value = _linked_header(responses, "x-linked-etag")
    if not value:
        return None
    value = value.strip().removeprefix("W/").strip('"').lower()
    return value if _SHA256_RE.match(value) else None


def _content_range(value: str | None) -> tuple[int | None, int | None] | None:
    """(first byte, full length) from `bytes 100-199/1000` or `bytes */1000`; None if unparsable."""
    m = re.match(r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)", (value or "").strip())
    if not m:
        return None
    return (int(m[1]) if m[1] else None), (None if m[2] == "*" else int(m[2]))


@contextlib.contextmanager
def _lock(path: Path, cancel: Any) -> Iterator[None]:
    """An advisory lock so that two qwen-ls processes never write the same .part file."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock
        yield
        return
    with open(path, "a+b") as fh:
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if is_cancelled(cancel):
                    raise ModelError(
                        f"download of {path.stem} cancelled while waiting for another download"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def sha256_file(path: Path, cancel: Any = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * _CHUNK):
            if is_cancelled(cancel):
                raise ModelError(f"check of {path.name} cancelled", "run the download again: it resumes")
            h.update(chunk)
    return h.hexdigest()


def _check_status(status: int, label: str, url: str) -> None:
    """A ModelError for an HTTP error status (404, 401/403, any other 4xx/5xx)."""
    if status == 404:
        raise ModelError(
            f"{label} was not found at {url} (HTTP 404)",
            "the catalog entry may be out of date: download the file yourself and give its path",
        )
    if status in (401, 403):
        raise ModelError(
            f"download of {label} was refused: HTTP {status} from {url}",
            "the repository may not exist (the Hub answers 401 for unknown repositories) "
            "or may need a login: download the file yourself and give its path",
        )
    if status >= 400:
        raise ModelError(
            f"download of {label} failed: HTTP {status} from {url}",
            "check the network (and any proxy); run the command again to resume",
        )


_HEADERS = {"User-Agent": "qwen-ls", "Accept-Encoding": "identity"}


class _Transfer:
    """One download's state across attempts: each GET resumes from what the .part file holds."""

    def __init__(
        self,
        url: str,
        part: Path,
        label: str,
        progress: ProgressFn | None,
        cancel: Any,
        retries: int,
    ) -> None:
        self.url = url
        self.part = part
        self.label = label
        self.progress = progress
        self.cancel = cancel
        self.retries = retries
        self.total: int | None = None
        self.server_sha: str | None = None
        self.last_report = 0.0
        self.attempt = 0

    def once(self, client: Any) -> bool:
        """One GET; True when the .part file is complete, False to try again (the retry counted).
        Raises ModelError, or httpx.TransportError when the connection breaks."""
        import httpx

        label = self.label
        have = self.part.stat().st_size if self.part.exists() else 0
        headers = dict(_HEADERS)
        if have:
            headers["Range"] = f"bytes={have}-"
        with client.stream("GET", self.url, headers=headers) as r:
            responses = [*r.history, r]
            self.server_sha = self.server_sha or _server_sha256(responses)
            if r.status_code == 416 and have:
                cr = _content_range(r.headers.get("content-range"))
                full = cr[1] if cr else None
                if full is not None and full == have:
                    self.total = full
                    return True  # the .part is already complete
                log.info("%s: server refused the resume range; starting over", label)
                self.part.unlink(missing_ok=True)
                self.attempt = _count_retry(self.attempt, self.retries, label, "the server refused to resume")
                return False
            _check_status(r.status_code, label, self.url)
            if r.status_code == 206:
                cr = _content_range(r.headers.get("content-range"))
                if cr is None or cr[0] != have:
                    log.info("%s: server answered the wrong range; starting over", label)
                    self.part.unlink(missing_ok=True)
                    self.attempt = _count_retry(
                        self.attempt, self.retries, label, "the server sent the wrong range"
                    )
                    return False
                self.total = cr[1]
                mode = "ab"
            else:  # 200: a full body (the server may ignore Range)
                have = 0
                length = r.headers.get("content-length")
                self.total = int(length) if length and length.isdigit() else None
                mode = "wb"
            if self.total is None:
                linked = _linked_header(responses, "x-linked-size")
                self.total = int(linked) if linked and linked.isdigit() else None
            _check_space(self.part.parent, (self.total or 0) - have, label)
            # Raw chunks as they arrive: a buffered reader would drop what it held when the
            # connection breaks, and the resume point is what reached the disk.
            encoded = r.headers.get("content-encoding", "identity") not in ("", "identity")
            chunks = r.iter_bytes(_CHUNK) if encoded else r.iter_raw()
            with open(self.part, mode) as f:
                for chunk in chunks:
                    if is_cancelled(self.cancel):
                        raise ModelError(
                            f"download of {label} cancelled ({have:,} bytes kept)",
                            "run the same download again: it resumes where it stopped",
                        )
                    f.write(chunk)
                    have += len(chunk)
                    now = time.monotonic()
                    if self.progress is not None and now - self.last_report >= 0.1:
                        self.last_report = now
                        self.progress(have, self.total or 0)
            if self.progress is not None:
                self.progress(have, self.total or have)
            if self.total is not None and have < self.total:
                raise httpx.RemoteProtocolError(f"connection closed at {have:,} of {self.total:,} bytes")
            return True


def download_file(
    url: str,
    dest: Path,
    *,
    expected_size: int | None = None,
    expected_sha256: str | None = None,
    progress: ProgressFn | None = None,
    cancel: Any = None,
    retries: int = 4,
    backoff: float | None = None,
    check_gguf: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Download `url` to `dest` (resumable, verified). Returns `dest`; raises ModelError."""
    import httpx

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    label = dest.name
    with _lock(dest.with_name(dest.name + ".lock"), cancel):
        if dest.is_file():  # another process finished it while we waited
            return dest
        transfer = _Transfer(url, part, label, progress, cancel, retries)
        with httpx.Client(
            follow_redirects=True, timeout=httpx.Timeout(timeout, read=max(timeout, 60.0))
        ) as client:
            while True:
                try:
                    if transfer.once(client):
                        break
                except httpx.TransportError as exc:
                    if transfer.attempt >= retries:
                        raise ModelError(
                            f"download of {label} failed after {transfer.attempt + 1} attempt(s): {exc}",
                            "check the network (and any proxy); run the same command again: it resumes",
                        ) from exc
                    transfer.attempt += 1
                    log.warning(
                        "download of %s interrupted (%s); resuming (attempt %d)",
                        label,
                        exc,
                        transfer.attempt + 1,
                    )
                    _sleep(
                        (RETRY_BACKOFF_S if backoff is None else backoff)
                        * min(2 ** (transfer.attempt - 1), 8),
                        cancel,
                        label,
                    )
        _verify(
            part,
            label,
            expected_size if expected_size is not None else transfer.total,
            expected_sha256 or transfer.server_sha,
            cancel,
            check_gguf,
        )
        os.replace(part, dest)
    with contextlib.suppress(OSError):
        dest.with_name(dest.name + ".lock").unlink()
    return dest


def _count_retry(attempt: int, retries: int, label: str, why: str) -> int:
    if attempt >= retries:
        raise ModelError(
            f"download of {label} failed after {attempt + 1} attempt(s): {why}",
            "try again later, or download the file yourself and give its path",
        )
    return attempt + 1


def _sleep(seconds: float, cancel: Any, label: str) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if is_cancelled(cancel):
            raise ModelError(f"download of {label} cancelled", "run the same download again: it resumes")
        time.sleep(min(0.1, max(0.0, end - time.monotonic())))


def _check_space(folder: Path, needed: int, label: str) -> None:
    if needed <= 0:
        return
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < needed:
        raise ModelError(
            f"not enough disk space for {label}: needs {needed / 1e9:.2f} GB, "
            f"{free / 1e9:.2f} GB free in {folder}",
            "free some space, or set QWEN_LS_MODELS_DIR to a folder on a larger disk",
        )


def _verify(part: Path, label: str, size: int | None, sha: str | None, cancel: Any, check_gguf: bool) -> None:
    actual = part.stat().st_size
    if size is not None and actual != size:
        part.unlink(missing_ok=True)
        raise ModelError(
            f"download of {label} has the wrong size ({actual:,} bytes, expected {size:,}); it was deleted",
            "run the download again; if it repeats, the mirror or the catalog entry is wrong",
        )
    if sha:
        got = sha256_file(part, cancel)
        if got != sha.lower():
            part.unlink(missing_ok=True)
            raise ModelError(
                f"download of {label} is corrupt: sha256 {got} does not match the expected {sha}; "
                "it was deleted",
                "run the download again; if it repeats, the mirror or the catalog entry is wrong",
            )
    if check_gguf:
        from qwen_ls.models.gguf_meta import GGUFFormatError, read_gguf_meta

        try:
            meta = read_gguf_meta(part, load_arrays=())
            ok = not meta.tensors or meta.data_end <= meta.file_size
            problem = "its tensor data is incomplete"
        except GGUFFormatError as exc:
            ok, problem = False, str(exc)
        if not ok:
            part.unlink(missing_ok=True)
            raise ModelError(
                f"download of {label} is not a usable GGUF file ({problem}); it was deleted",
                "run the download again; if it repeats, the catalog entry points at the wrong file",
            )
