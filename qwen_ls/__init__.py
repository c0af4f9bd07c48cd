"""qwen-ls: a language server for Qwen2.5-Coder inline completions, run in-process with llama.cpp."""

__version__ = "0.1.0"
