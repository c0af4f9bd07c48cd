"""Benchmarks (`qwen-ls bench ...`) and the synthetic GGUF models they and the tests use."""
