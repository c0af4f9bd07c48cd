"""Which engine the settings name: the remote backends are built here (the embedded one in model_service)."""

from qwen_ls.engine.remote.factory import create_remote_engine

__all__ = ["create_remote_engine"]
