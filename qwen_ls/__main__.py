"""`python -m qwen_ls` is the same as the `qwen-ls` command."""

from qwen_ls.cli import main

raise SystemExit(main())
