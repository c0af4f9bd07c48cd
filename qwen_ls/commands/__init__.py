"""Command-line subcommands of `qwen-ls`; each module has `register(subparsers)`."""
