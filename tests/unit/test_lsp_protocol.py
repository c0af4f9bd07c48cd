"""The LSP base layer in-process: framing that resynchronises, one place for every JSON-RPC error,
a handler crash answered while the server goes on, an engine-worker crash the lane survives (issue 15)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from lsprotocol import types
from pygls.lsp.server import LanguageServer

from qwen_ls.lsp.framing import Frame, FrameReader
from qwen_ls.lsp.jsonrpc import QwenProtocol, describe_structure_error
from qwen_ls.scheduler import PRIORITY_COMPLETION, EngineLane

pytestmark = pytest.mark.timeout(30)

BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "x"}).encode()


def frame(body: bytes = BODY) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_all(data: bytes, chunk: int = 1 << 16) -> list[Frame]:
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    reader = FrameReader(lambda n: chunks.pop(0) if chunks else b"")
    frames = []
    while (f := reader.next_frame()) is not None:
        frames.append(f)
    return frames


def bodies(frames: list[Frame]) -> list[bytes | None]:
    return [f.body for f in frames]


# -- framing -------------------------------------------------------------------------------------

BROKEN = {
    "no Content-Length": b"Content-Type: application/vscode-jsonrpc\r\n\r\n" + BODY,
    "non-numeric Content-Length": b"Content-Length: ten\r\n\r\n" + BODY,
    "garbage line": b"\x00\xff garbage\r\n\r\n",
    "header block too long": b"X-Long: " + b"a" * 9000 + b"\r\n\r\n" + BODY,
    "conflicting lengths": b"Content-Length: 3\r\nContent-Length: 4\r\n\r\n" + BODY,
}


@pytest.mark.parametrize("name", sorted(BROKEN))
@pytest.mark.parametrize("chunk", [1, 7, 1 << 16])
def test_a_broken_header_block_is_reported_and_the_next_frame_is_read(name: str, chunk: int) -> None:
    frames = read_all(BROKEN[name] + frame(), chunk)
    assert frames[0].body is None and frames[0].problem
    assert bodies(frames[1:]) == [BODY]


@pytest.mark.parametrize("extra", [1, 5, 14, 15, 17, 20, 30, 300])
@pytest.mark.parametrize("chunk", [1, 13, 1 << 16])
def test_a_content_length_larger_than_the_body_ends_at_the_next_header(extra: int, chunk: int) -> None:
    data = b"Content-Length: %d\r\n\r\n" % (len(BODY) + extra) + BODY + frame() + frame()
    frames = read_all(data, chunk)
    assert bodies(frames) == [BODY, BODY, BODY]
    assert frames[0].problem and "larger" in frames[0].problem


def test_a_content_length_smaller_than_the_body_loses_only_that_message() -> None:
    frames = read_all(b"Content-Length: %d\r\n\r\n" % (len(BODY) - 6) + BODY + frame())
    assert frames[0].body == BODY[:-6]
    assert frames[-1].body == BODY
    assert all(f.body is None for f in frames[1:-1])


def test_lf_only_headers_and_blank_lines_between_messages_are_accepted() -> None:
    data = b"Content-Length: %d\n\n" % len(BODY) + BODY + b"\r\n\r\n" + frame()
    assert bodies(read_all(data, 3)) == [BODY, BODY]


def test_a_json_body_mentioning_content_length_is_not_cut() -> None:
    body = json.dumps({"jsonrpc": "2.0", "method": "x", "params": {"text": "Content-Length: 12\r\n\r\nhi"}})
    frames = read_all(frame(body.encode()) + frame(), 5)
    assert bodies(frames) == [body.encode(), BODY]
    assert frames[0].problem is None


def test_the_end_of_the_stream_is_the_end() -> None:
    assert read_all(b"") == []
    assert read_all(b"Content-Length: 100\r\n\r\n{")[0].problem


# -- messages, in-process ------------------------------------------------------------------------


class Harness:
    """A pygls server on QwenProtocol whose output is collected as parsed messages."""

    def __init__(self) -> None:
        self.server = LanguageServer("t", "0", protocol_cls=QwenProtocol)
        self.protocol: QwenProtocol = self.server.protocol  # type: ignore[assignment]
        self.out: list[dict[str, Any]] = []
        self.protocol.set_writer(self, include_headers=True)

    def write(self, data: bytes) -> None:
        head, _, body = data.partition(b"\r\n\r\n")
        assert int(head.split(b":")[1]) == len(body)
        self.out.append(json.loads(body, parse_constant=lambda c: pytest.fail(f"{c} on the channel")))

    def close(self) -> None:
        pass

    def send(self, message: Any) -> None:
        self.protocol.handle_body(message if isinstance(message, bytes) else json.dumps(message).encode())

    async def call(self, method: str, params: Any, msg_id: Any = 1) -> dict[str, Any]:
        before = len(self.out)
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        for _ in range(200):
            for m in self.out[before:]:
                if m.get("id") == msg_id and "method" not in m:
                    return m
            await asyncio.sleep(0.005)
        raise AssertionError(f"no answer to {method}")

    async def initialize(self) -> None:
        answer = await self.call("initialize", {"processId": None, "rootUri": None, "capabilities": {}}, 0)
        assert "result" in answer


async def test_a_crashing_handler_answers_internal_error_and_the_server_goes_on() -> None:
    h = Harness()
    calls = {"n": 0}

    @h.server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: LanguageServer, params: types.HoverParams) -> types.Hover | None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected crash")
        return None

    await h.initialize()
    params = {"textDocument": {"uri": "file:///a"}, "position": {"line": 0, "character": 0}}
    crashed = await h.call("textDocument/hover", params, 2)
    assert crashed["error"]["code"] == -32603 and "injected crash" in crashed["error"]["message"]
    fine = await h.call("textDocument/hover", params, 3)
    assert fine == {"jsonrpc": "2.0", "id": 3, "result": None}
    assert not any(m.get("method") == "window/showMessage" for m in h.out)


async def test_invalid_params_name_the_field_for_any_method() -> None:
    h = Harness()

    @h.server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: LanguageServer, params: types.HoverParams) -> None:
        return None

    await h.initialize()
    bad = {"textDocument": {"uri": "file:///a"}, "position": {"line": 0, "character": "x"}}
    answer = await h.call("textDocument/hover", bad, 2)
    assert answer["error"]["code"] == -32602
    assert "position.character: expected an integer, got str" in answer["error"]["message"]
    bad = {"textDocument": {"uri": "file:///a"}, "position": {"line": -1, "character": 0}}
    answer = await h.call("textDocument/hover", bad, 4)
    assert "Position.line should be in range" in answer["error"]["message"]
    answer = await h.call("textDocument/hover", {"textDocument": None, "position": "1:2"}, 5)
    assert "textDocument: expected an object, got null" in answer["error"]["message"]
    assert "position: expected an object, got a string" in answer["error"]["message"]
    answer = await h.call("textDocument/hover", {"position": {"line": 0, "character": 0}}, 3)
    assert "textDocument: required field missing" in answer["error"]["message"]


async def test_ids_that_are_not_integers_or_strings_are_invalid_requests_answered_with_id_null() -> None:
    h = Harness()
    await h.initialize()
    h.send(b'{"jsonrpc": "2.0", "id": 1e400, "method": "shutdown"}')
    h.send(b'{"jsonrpc": "2.0", "id": 1.5, "method": "shutdown"}')
    h.send(b'{"jsonrpc": "2.0", "id": Infinity, "method": "shutdown"}')
    assert [m["error"]["code"] for m in h.out[1:]] == [-32600, -32600, -32700]
    assert all(m["id"] is None for m in h.out[1:])


async def test_requests_before_initialize_and_after_shutdown() -> None:
    h = Harness()
    early = await h.call("shutdown", None, 1)
    assert early["error"]["code"] == -32002
    await h.initialize()
    assert (await h.call("shutdown", None, 2)) == {"jsonrpc": "2.0", "id": 2, "result": None}
    assert (await h.call("shutdown", None, 3))["error"]["code"] == -32600
    h.send({"jsonrpc": "2.0", "method": "exit"})
    assert h.protocol.exit_code == 0


def test_a_result_that_is_not_json_becomes_an_error_not_infinity() -> None:
    h = Harness()
    h.protocol._send_response(7, result={"x": float("inf")})
    assert h.out == [
        {
            "jsonrpc": "2.0",
            "id": 7,
            "error": {"code": -32603, "message": "the result is not representable in JSON"},
        }
    ]


def test_nothing_is_written_once_the_client_end_is_closed() -> None:
    h = Harness()
    writes = {"n": 0}

    def broken(data: bytes) -> None:
        writes["n"] += 1
        raise BrokenPipeError("closed")

    h.write = broken  # type: ignore[method-assign]
    stopped = threading.Event()
    h.protocol.on_stop = stopped.set
    for _ in range(100):
        h.protocol.notify(
            "window/logMessage", types.LogMessageParams(type=types.MessageType.Info, message="x")
        )
    assert writes["n"] == 1 and stopped.is_set()


def test_describe_structure_error_uses_lsp_field_names() -> None:
    from lsprotocol import converters

    conv = converters.get_converter()
    try:
        conv.structure({"textDocument": {"uri": "u"}, "position": None}, types.HoverParams)
    except Exception as exc:
        assert describe_structure_error(exc) == "position: expected an object, got null"
    else:
        pytest.fail("structured")


# -- the engine lane -----------------------------------------------------------------------------


async def test_the_engine_lane_recovers_from_a_crashing_job_and_a_crashing_worker() -> None:
    lane = EngineLane()
    try:

        def boom(cancel: Any) -> int:
            raise RuntimeError("injected engine crash")

        with pytest.raises(RuntimeError, match="injected engine crash"):
            await asyncio.wait_for(
                lane.submit(boom, kind="completion", priority=PRIORITY_COMPLETION).future, 5
            )

        # a crash in the worker's own book-keeping (answering a job), injected once
        real = lane._loop_call
        state = {"crashed": False}

        def flaky(fn: Any, *args: Any) -> None:
            if not state["crashed"]:
                state["crashed"] = True
                raise RuntimeError("injected worker crash")
            real(fn, *args)

        lane._loop_call = flaky  # type: ignore[method-assign]
        crashed = lane.submit(lambda cancel: 1, kind="completion", priority=PRIORITY_COMPLETION)
        with pytest.raises(RuntimeError, match="injected worker crash"):
            await asyncio.wait_for(crashed.future, 5)
        after = lane.submit(lambda cancel: 2, kind="completion", priority=PRIORITY_COMPLETION)
        assert await asyncio.wait_for(after.future, 5) == 2
        for _ in range(100):  # the worker clears its slot just after answering
            if not lane.busy:
                break
            await asyncio.sleep(0.01)
        assert not lane.busy and lane._thread.is_alive()
    finally:
        lane.close()
