"""`qwen-ls serve`: the language server on stdio (default) or TCP."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import BinaryIO

from qwen_ls.commands.common import add_model_options, settings_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the language server (stdio by default)")
    add_model_options(p)
    p.add_argument("--stdio", action="store_true", help="talk JSON-RPC on stdin/stdout (the default)")
    p.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    p.add_argument("--log-file", help="also write the log to this file")
    p.set_defaults(func=run)


def protect_stdout() -> BinaryIO:
    """Keep fd 1 for JSON-RPC only: the protocol gets a private duplicate of it, and fd 1 itself is
    pointed at stderr, so anything else that writes to stdout (a C library, a stray print) lands in
    the log instead of corrupting the protocol stream."""
    rpc_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(rpc_fd, "wb", buffering=0)


def run(args: argparse.Namespace) -> int:
    if args.log_file:
        handler = logging.FileHandler(args.log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
    from qwen_ls.app import create_server

    server = create_server(settings_from_args(args))
    from qwen_ls.lsp.serve import serve_stdio, serve_tcp

    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        return serve_tcp(server, host or "127.0.0.1", int(port))
    rpc_out = protect_stdout()
    # the exit code follows LSP: 0 after shutdown and exit, 1 for an exit without shutdown
    return serve_stdio(server, sys.stdin.buffer, rpc_out)
