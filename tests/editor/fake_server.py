"""A fake qwen-ls for editor tests: JSON-RPC over stdio, standard library only.

It answers `textDocument/inlineCompletion` with a fixed text after an optional delay, can stream
`qwen/partialCompletion` first, honours `$/cancelRequest` (answering RequestCancelled), and appends every
event to a JSON-lines log that the tests read. Configured by the JSON in $QWEN_FAKE_CONFIG:

    {"log": "/tmp/events.jsonl", "completion": "return a + b", "delay": 0.0,
     "stream": ["ret", "return a"], "stream_interval": 0.05}
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

CONFIG: dict[str, Any] = json.loads(os.environ.get("QWEN_FAKE_CONFIG", "{}"))
LOG_PATH = CONFIG.get("log")
COMPLETION: str = CONFIG.get("completion", "return a + b")
DELAY: float = float(CONFIG.get("delay", 0.0))
STREAM: list[str] = list(CONFIG.get("stream", []))
STREAM_INTERVAL: float = float(CONFIG.get("stream_interval", 0.05))

_write_lock = threading.Lock()
_state_lock = threading.Lock()
_pending: dict[Any, threading.Event] = {}
_documents: dict[str, dict[str, Any]] = {}
_streaming = False
_counts = {"requests": 0, "cancelled": 0}


def log(event: str, **fields: Any) -> None:
    if not LOG_PATH:
        return
    with _write_lock, open(LOG_PATH, "a", encoding="utf-8") as f:
        f.write(json.dumps({"event": event, **fields}) + "\n")


def send(message: dict[str, Any]) -> None:
    body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
    with _write_lock:
        sys.stdout.buffer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        sys.stdout.buffer.flush()


def read_message() -> dict[str, Any] | None:
    headers: dict[str, str] = {}
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            break
        name, _, value = line.decode("ascii").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    data = sys.stdin.buffer.read(length)
    parsed: dict[str, Any] = json.loads(data)
    return parsed


def answer_inline(msg_id: Any, params: dict[str, Any], cancelled: threading.Event) -> None:
    position = params["position"]
    uri = params["textDocument"]["uri"]
    version = _documents.get(uri, {}).get("version", 0)
    waited = 0.0
    if _streaming and STREAM:
        for part in STREAM:
            if cancelled.wait(STREAM_INTERVAL):
                break
            waited += STREAM_INTERVAL
            send(
                {
                    "method": "qwen/partialCompletion",
                    "params": {
                        "uri": uri,
                        "version": version,
                        "position": position,
                        "text": part,
                        "done": False,
                    },
                }
            )
            log("partial", id=msg_id, text=part)
    if not cancelled.is_set() and waited < DELAY:
        cancelled.wait(DELAY - waited)
    with _state_lock:
        _pending.pop(msg_id, None)
    if cancelled.is_set():
        _counts["cancelled"] += 1
        send({"id": msg_id, "error": {"code": -32800, "message": "cancelled"}})
        log("cancelled", id=msg_id)
        return
    end = dict(position)
    result = {"items": [{"insertText": COMPLETION, "range": {"start": position, "end": end}}]}
    if _streaming and STREAM:
        send(
            {
                "method": "qwen/partialCompletion",
                "params": {
                    "uri": uri,
                    "version": version,
                    "position": position,
                    "text": COMPLETION,
                    "done": True,
                },
            }
        )
    send({"id": msg_id, "result": result})
    log("answered", id=msg_id, text=COMPLETION)


def handle(msg: dict[str, Any]) -> bool:
    global _streaming
    method = msg.get("method")
    msg_id = msg.get("id")
    params = msg.get("params") or {}
    if method is None:  # a response to our own request
        log("response", id=msg_id, result=msg.get("result"))
        return True
    if method == "initialize":
        options = params.get("initializationOptions") or {}
        _streaming = bool(options.get("streaming"))
        log("initialize", initializationOptions=options, clientInfo=params.get("clientInfo"))
        send(
            {
                "id": msg_id,
                "result": {
                    "capabilities": {
                        "textDocumentSync": {"openClose": True, "change": 1},
                        "inlineCompletionProvider": {},
                        "completionProvider": {},
                        "executeCommandProvider": {"commands": ["qwen.explainContext", "qwen.stats"]},
                        "codeActionProvider": {"codeActionKinds": ["quickfix"]},
                    },
                    "serverInfo": {"name": "fake-qwen-ls", "version": "0"},
                },
            }
        )
    elif method == "initialized":
        send(
            {"method": "qwen/status", "params": {"state": "ready", "model": "fake.gguf", "lastLatencyMs": 12}}
        )
        send(
            {
                "id": "config-1",
                "method": "workspace/configuration",
                "params": {"items": [{"section": "qwen"}]},
            }
        )
    elif method == "textDocument/didOpen":
        doc = params["textDocument"]
        _documents[doc["uri"]] = {"version": doc["version"], "text": doc["text"]}
        log("didOpen", uri=doc["uri"], version=doc["version"])
    elif method == "textDocument/didChange":
        doc = params["textDocument"]
        text = params["contentChanges"][-1]["text"]
        _documents[doc["uri"]] = {"version": doc["version"], "text": text}
        log("didChange", uri=doc["uri"], version=doc["version"], text=text)
    elif method == "textDocument/didClose":
        _documents.pop(params["textDocument"]["uri"], None)
    elif method == "textDocument/inlineCompletion":
        _counts["requests"] += 1
        log("inlineCompletion", id=msg_id, position=params["position"], context=params.get("context"))
        cancelled = threading.Event()
        with _state_lock:
            _pending[msg_id] = cancelled
        threading.Thread(target=answer_inline, args=(msg_id, params, cancelled), daemon=True).start()
    elif method == "textDocument/completion":
        send(
            {
                "id": msg_id,
                "result": {"isIncomplete": True, "items": [{"label": COMPLETION, "insertText": COMPLETION}]},
            }
        )
    elif method == "textDocument/codeAction":
        diagnostics = params.get("context", {}).get("diagnostics", [])
        log("codeAction", range=params.get("range"), diagnostics=diagnostics)
        uri = params["textDocument"]["uri"]
        actions = [
            {
                "title": f"Fix with Qwen: {d['message']}",
                "kind": "quickfix",
                "diagnostics": [d],
                "edit": {"changes": {uri: [{"range": d["range"], "newText": CONFIG.get("fix", "fixed")}]}},
            }
            for d in diagnostics
        ]
        send({"id": msg_id, "result": actions})
    elif method == "$/cancelRequest":
        log("cancelRequest", id=params.get("id"))
        with _state_lock:
            event = _pending.get(params.get("id"))
        if event:
            event.set()
    elif method == "workspace/executeCommand":
        log("executeCommand", command=params.get("command"), arguments=params.get("arguments"))
        if params.get("command") == "qwen.explainContext":
            result: Any = {
                "snippets": [
                    {"path": "util.py", "source": "imports", "score": 0.75, "text": "def helper():\n    pass"}
                ]
            }
        elif params.get("command") == "qwen.stats":
            result = dict(_counts)
        else:
            send({"id": msg_id, "error": {"code": -32601, "message": "unknown command"}})
            return True
        send({"id": msg_id, "result": result})
    elif method == "shutdown":
        send({"id": msg_id, "result": None})
    elif method == "exit":
        return False
    elif msg_id is not None:
        send({"id": msg_id, "error": {"code": -32601, "message": f"{method} not handled"}})
    return True


def main() -> int:
    log("start", pid=os.getpid())
    while True:
        msg = read_message()
        if msg is None or not handle(msg):
            return 0


if __name__ == "__main__":
    sys.exit(main())
