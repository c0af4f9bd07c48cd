"""Thin LSP glue: one `Feature` class per module, each translating lsprotocol types and calling the
services. `qwen_ls.app` adds them to the server; `base` says what a feature is."""
