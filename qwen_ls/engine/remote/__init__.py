"""Remote inference engines: the Engine protocol over HTTP, for teams that run a shared server.

- `settings.py`    the `engine.remote` section (`RemoteSettings`) and the client's retry/breaker policy
- `client.py`      one keep-alive httpx client, side requests, streamed requests, health messages
- `breaker.py`     the circuit breaker; `watchdog.py` aborts a blocked read on cancel or deadline
- `wire.py`        the `WireFormat` protocol; `formats.py` the one dispatch from `engine.kind` to a format
- `llama_server.py` llama.cpp's llama-server (`/completion` with token ids); `openai.py` `/v1/completions`
- `stream.py`      one streamed completion: server-sent events (httpx-sse) to text, with our stop rules
- `engine.py`      `RemoteEngine` (generate, retries); `tokenizer.py` the server's tokenizer over HTTP
- `check.py`       `qwen-ls check`; `factory.py` building an engine from settings
- `local_server.py` child-process servers for tests and benchmarks (never used by `serve`)
"""

from qwen_ls.engine.remote.breaker import CircuitBreaker
from qwen_ls.engine.remote.check import RemoteCheck
from qwen_ls.engine.remote.client import HealthCallback
from qwen_ls.engine.remote.engine import RemoteEngine
from qwen_ls.engine.remote.factory import create_remote_engine, open_remote_engine
from qwen_ls.engine.remote.settings import ClientPolicy, EngineKind, RemoteKind, RemoteSettings
from qwen_ls.engine.remote.tokenizer import RemoteTokenizer

__all__ = [
    "CircuitBreaker",
    "ClientPolicy",
    "EngineKind",
    "HealthCallback",
    "RemoteCheck",
    "RemoteEngine",
    "RemoteKind",
    "RemoteSettings",
    "RemoteTokenizer",
    "create_remote_engine",
    "open_remote_engine",
]
