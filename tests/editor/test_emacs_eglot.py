"""Emacs 28 + eglot 1.9 (Debian `emacs-nox`, `elpa-eglot`) driving the real `qwen-ls serve` in batch
mode: the completion-menu fallback through eglot's `completion-at-point` function.

eglot runs one server per buffer, so qwen-ls there never sees another server's diagnostics and offers
no "Fix with Qwen" actions from eglot's own menu; that path is covered by the Vim + ALE and Neovim tests.
Skips when emacs or eglot is not installed or llama-cpp-python is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import needs_llama

pytestmark = [pytest.mark.editor, pytest.mark.slow, pytest.mark.timeout(110), needs_llama]

ELPA = Path("/usr/share/emacs/site-lisp/elpa")

SCRIPT = r"""
(require 'package)
(add-to-list 'package-directory-list {elpa})
(package-initialize)
(require 'eglot)
(require 'json)
(setq eglot-sync-connect 60
      eglot-confirm-server-initiated-edits nil)
(defvar qwen-state nil)
(cl-defmethod eglot-handle-notification (_server (_method (eql qwen/status)) &key state &allow-other-keys)
  (setq qwen-state state))
(defvar qwen-options (json-parse-string {options} :object-type 'plist))
(add-to-list 'eglot-server-programs
             (cons 'python-mode (list {python} "-m" "qwen_ls" "serve" :initializationOptions qwen-options)))
(find-file {file})
(python-mode)
(apply #'eglot--connect (eglot--guess-contact))
(let ((deadline (+ (float-time) 60)))
  (while (and (not (equal qwen-state "ready")) (< (float-time) deadline))
    (accept-process-output nil 0.1)))
(goto-char (point-min))
(forward-line 1)
(end-of-line)
;; The server answers the menu with what it has after a moment (isIncomplete: true), and a new request
;; supersedes the one before; ask again after a pause, as a user would, until the model (random
;; weights) has said something.
(let ((tries 0) (items nil) (bounds nil) (here (point)))
  (while (and (null items) (< tries 20))
    (let* ((capf (eglot-completion-at-point)))
      (setq bounds (list (nth 0 capf) (nth 1 capf)))
      (setq items (all-completions "" (nth 2 capf))))
    (unless items
      ;; accept-process-output returns on any output (status notifications); wait the whole pause
      (let ((end (+ (float-time) 1.5)))
        (while (< (float-time) end) (accept-process-output nil 0.1))))
    (setq tries (1+ tries)))
  (with-temp-file {out}
    (insert (json-encode (list (cons 'state qwen-state) (cons 'tries tries)
                               (cons 'point here) (cons 'bounds bounds)
                               (cons 'items (vconcat items)))))))
(kill-emacs 0)
"""


def _elisp_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Emacs Lisp string literal here


def test_eglot_completion_menu_fallback(tmp_path: Path, tiny_model: Path) -> None:
    emacs = shutil.which("emacs")
    if emacs is None or not any(ELPA.glob("eglot-*")):
        pytest.skip("emacs and eglot are not installed (apt-get install emacs-nox elpa-eglot)")
    file = tmp_path / "calc.py"
    file.write_text("def add(a, b):\n    return \n    totl = 1\n", encoding="utf-8")
    options = json.dumps(
        {"model": str(tiny_model), "completion": {"maxTokens": 12, "deadlineMs": 0, "debounceMs": 0}}
    )
    out = tmp_path / "out.json"
    script = tmp_path / "test.el"
    script.write_text(
        SCRIPT.format(
            elpa=_elisp_string(str(ELPA)),
            python=_elisp_string(sys.executable),
            options=_elisp_string(options),
            file=_elisp_string(str(file)),
            out=_elisp_string(str(out)),
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [emacs, "-Q", "--batch", "-l", str(script)],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=100,
    )
    assert out.exists(), f"emacs did not finish: rc {proc.returncode} {proc.stderr[-3000:]!r}"
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert result["state"] == "ready"
    assert result["items"], f"no completion after {result['tries']} tries"
    assert result["bounds"] == [result["point"], result["point"]], "inserted at the cursor, nothing replaced"
    label = result["items"][0]
    assert isinstance(label, str) and label.strip() and "<|" not in label
