"""Logging set-up. stdout belongs to JSON-RPC: every log record goes to stderr (or the editor)."""

from __future__ import annotations

import logging
import os
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _level(name: str | None, default: str = "WARNING") -> int:
    name = (name or os.environ.get("QWEN_LS_LOG_LEVEL") or default).upper()
    return getattr(logging, name, logging.INFO)


def setup_cli_logging(level: str | None, default: str = "WARNING") -> None:
    """Log to stderr at the given level (or $QWEN_LS_LOG_LEVEL; WARNING by default, INFO for the server)."""
    root = logging.getLogger()
    if not any(getattr(h, "_qwen_ls", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._qwen_ls = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(_level(level, default))
    logging.getLogger("pygls").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    for name in ("pygls.protocol.json_rpc", "pygls.server"):
        target = logging.getLogger(name)
        if not any(isinstance(f, _Routine) for f in target.filters):
            target.addFilter(_Routine())


class _Routine(logging.Filter):
    """pygls reports routine events as warnings and errors: a cancel for a request already answered, and a
    client that closed the pipe when it exits. Those go to DEBUG; real errors stay as they are."""

    ROUTINE = (
        "Cancel notification for unknown message id",
        "Error sending data. BrokenPipeError",
        "Connection to the client is lost",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith(self.ROUTINE):
            if not logging.getLogger("qwen_ls").isEnabledFor(logging.DEBUG):
                return False
            record.levelno, record.levelname, record.exc_info = logging.DEBUG, "DEBUG", None
        return True
