"""The one place where every incoming message is checked and every malformed one gets its JSON-RPC error.

pygls parses a body with `json.loads(object_hook=structure_message)`: a body that is not JSON, not a
request, or whose params do not fit the method's type raises inside the reader, is logged, pops an
"Error in server" message at the user, and is never answered. `QwenProtocol.handle_frame` replaces
that path, for every method at once:

| what arrives                                            | answer                              |
|---------------------------------------------------------|-------------------------------------|
| a broken frame (see `framing`)                          | logged; a request found in it: -32600 |
| a body that is not UTF-8 or not JSON (NaN, Infinity too)| -32700 ParseError, id null          |
| not an object, `jsonrpc` not "2.0", no or bad `method`, | -32600 InvalidRequest               |
| an id that is not an integer or a string (1e400, null)  | (id null when the id is unusable)   |
| a request before `initialize`                           | -32002 ServerNotInitialized         |
| a second `initialize`                                   | -32600 InvalidRequest               |
| a request after `shutdown` (a second `shutdown` too)    | -32600 InvalidRequest               |
| an unknown method                                       | -32601 MethodNotFound               |
| params that do not fit the method's lsprotocol type     | -32602 InvalidParams naming the field |
| a handler that raises InvalidParams (unknown document,  | -32602                              |
|   a position past the end, bad command arguments)       |                                     |
| a handler that crashes                                  | -32603 InternalError; the server goes on |

Notifications are never answered (JSON-RPC): a bad one is logged and dropped, before `initialize` too
(except `exit`). `exit` ends the server with code 0 after `shutdown`, 1 without. Outgoing messages are
written with `allow_nan=False`, so no message can put non-JSON bytes on the channel, and once the
client's end is closed nothing more is written (no error loop writing tracebacks about a closed pipe).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Callable, Generator
from concurrent.futures import Future
from typing import Any

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcRequestCancelled
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import JsonRPCRequestMessage

from qwen_ls.lsp.documents import Workspace
from qwen_ls.lsp.framing import Frame

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_NOT_INITIALIZED = -32002

_NO_ID = object()


def valid_id(value: Any) -> bool:
    """LSP request ids are integers or strings (JSON-RPC's fractions and null are not used by LSP)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _strict_str(value: Any, cls: Any) -> Any:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return cls(value)  # `cls` may be a string enum: its constructor checks the value


def _strict_int(value: Any, cls: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return cls(value)  # `cls` may be an IntEnum: its constructor checks the value


def _strict_bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _format_leaf(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, (TypeError, ValueError, OverflowError)) and str(exc):
        return str(exc)
    name = getattr(type_, "__name__", None) or str(type_)
    return f"expected {name}"


def describe_structure_error(exc: BaseException) -> str:
    """`params.position.line: ...; params.context: required field missing` from a cattrs error."""
    if not isinstance(exc, cattrs.BaseValidationError):
        return str(exc) or type(exc).__name__
    parts: list[str] = []
    for message in cattrs.transform_error(exc, path="$", format_exception=_format_leaf):
        text, _, path = message.rpartition(" @ ")
        path = re.sub(r"[a-z]+(?:_[a-z0-9]+)+", lambda m: _camel(m.group(0)), path.removeprefix("$."))
        not_object = _NOT_AN_OBJECT.search(text)
        if not_object:  # cattrs read the fields of something that is not an object: name the object
            path = path.rpartition(".")[0] or path
            found = not_object.group(1) or not_object.group(2)
            kind = _JSON_KINDS.get(found, found)
            text = f"expected an object, got {kind}"
        part = f"{path}: {text}"
        if part not in parts:
            parts.append(part)
    return "; ".join(parts[:5]) or "params do not fit the method"


_NOT_AN_OBJECT = re.compile(
    r"'(\w+)' object (?:is not subscriptable|has no attribute)|(str)ing indices must be integers"
)
_JSON_KINDS = {
    "NoneType": "null",
    "str": "a string",
    "list": "an array",
    "int": "a number",
    "float": "a number",
}


def install_strict_hooks(converter: cattrs.Converter) -> None:
    """No silent coercion: a uri of 42 or a line of "3" does not fit LSP's string and integer fields."""
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(bool, _strict_bool)  # after int: bool is a subclass of int


class QwenProtocol(LanguageServerProtocol):
    """pygls's LSP protocol with every incoming message checked here first (see the module docstring)."""

    def __init__(self, server: Any, converter: cattrs.Converter) -> None:
        install_strict_hooks(converter)
        super().__init__(server, converter)
        self.initialize_received = False
        #: set by `exit`: 0 after shutdown, 1 without
        self.exit_code: int | None = None
        #: the client's end is gone: nothing more is written
        self.closed = False
        #: called (from any thread) when the server should stop reading: exit, or a closed connection
        self.on_stop: Callable[[], None] | None = None
        self._write_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- incoming ---------------------------------------------------------------------------------

    def handle_frame(self, frame: Frame) -> None:
        if self.exit_code is not None:
            return  # after exit nothing is read
        if frame.problem:
            log.warning("broken frame from the client: %s", frame.problem)
        if frame.body is None:
            self._answer_skipped(frame)
            return
        self.handle_body(frame.body)

    def _answer_skipped(self, frame: Frame) -> None:
        """A request passed over while resynchronising still gets an answer when its id can be read."""
        body = re.split(rb"\r?\n\r?\n", frame.skipped, maxsplit=1)[-1]  # past a header block, if any
        try:
            data = json.loads(body.decode("utf-8").strip(), parse_constant=_reject_constant)
        except ValueError:
            return
        if isinstance(data, dict) and "method" in data and valid_id(data.get("id")):
            self.reply_error(
                data["id"], INVALID_REQUEST, f"Invalid request: a broken frame ({frame.problem})"
            )

    def handle_body(self, body: bytes) -> None:
        """Parse, check and dispatch one message body; every problem is answered here."""
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                pass
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.reply_error(None, PARSE_ERROR, f"Parse error: the body is not UTF-8 (byte {exc.start})")
            return
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            self.reply_error(None, PARSE_ERROR, f"Parse error: {str(exc)[:200]}")
            return
        try:
            self._dispatch(data)
        except Exception:  # a bug in this layer must not stop the reader
            log.exception("could not handle a message")
            if isinstance(data, dict) and valid_id(data.get("id")) and "method" in data:
                self.reply_error(data["id"], INTERNAL_ERROR, "Internal error while reading the message")

    def _dispatch(self, data: Any) -> None:
        if not isinstance(data, dict):
            kind = "an array (batches are not part of LSP)" if isinstance(data, list) else type(data).__name__
            self.reply_error(None, INVALID_REQUEST, f"Invalid request: the message is {kind}, not an object")
            return
        has_id = "id" in data
        msg_id = data.get("id") if has_id and valid_id(data.get("id")) else None
        if data.get("jsonrpc") != "2.0":
            self.reply_error(msg_id, INVALID_REQUEST, 'Invalid request: "jsonrpc" must be "2.0"')
            return
        if "method" not in data:
            if has_id and ("result" in data or "error" in data):
                self._client_response(data)
            else:
                self.reply_error(msg_id, INVALID_REQUEST, "Invalid request: no method")
            return
        method = data["method"]
        if not isinstance(method, str):
            self.reply_error(msg_id, INVALID_REQUEST, "Invalid request: the method is not a string")
            return
        if has_id and msg_id is None:
            self.reply_error(None, INVALID_REQUEST, "Invalid request: the id must be an integer or a string")
            return
        if has_id:
            self._request(msg_id, method, data)
        else:
            self._notification(method, data)

    def _request(self, msg_id: Any, method: str, data: dict[str, Any]) -> None:
        if self._shutdown:
            self.reply_error(msg_id, INVALID_REQUEST, "Invalid request: the server is shutting down")
            return
        if method == types.INITIALIZE:
            if self.initialize_received:
                self.reply_error(msg_id, INVALID_REQUEST, "Invalid request: initialize was already sent")
                return
        elif not self.initialize_received:
            self.reply_error(msg_id, SERVER_NOT_INITIALIZED, "Server not initialized: send initialize first")
            return
        if not self._has_handler(method):
            self.reply_error(msg_id, METHOD_NOT_FOUND, f"Method not found: {method}")
            return
        message = self._structure(method, data, JsonRPCRequestMessage)
        if isinstance(message, str):
            self.reply_error(msg_id, INVALID_PARAMS, f"Invalid params: {message}")
            return
        if method == types.INITIALIZE:
            self.initialize_received = True
        self.handle_message(message)

    def _notification(self, method: str, data: dict[str, Any]) -> None:
        if method == types.EXIT:
            self.exit_code = 0 if self._shutdown else 1
            log.info(
                "exit %s shutdown: exit code %d", "after" if self._shutdown else "without", self.exit_code
            )
            self._stop()
            return
        if self._shutdown or not self.initialize_received:
            log.debug(
                "notification %s dropped (%s)", method, "shut down" if self._shutdown else "before initialize"
            )
            return
        if method != types.CANCEL_REQUEST and not self._has_handler(method):
            level = logging.DEBUG if method.startswith("$/") else logging.WARNING
            log.log(level, "notification for an unknown method %s dropped", method)
            return
        message = self._structure(method, data, None)
        if isinstance(message, str):
            log.warning("notification %s dropped: invalid params: %s", method, message)
            return
        self.handle_message(message)

    def _has_handler(self, method: str) -> bool:
        return method in self.fm.builtin_features or method in self.fm.features

    def _structure(self, method: str, data: dict[str, Any], fallback: Any) -> Any:
        """The message as its lsprotocol type, or a description of what does not fit (a str)."""
        message_type = self.get_message_type(method)
        if message_type is None:
            if fallback is None:
                from pygls.protocol.json_rpc import JsonRPCNotification

                fallback = JsonRPCNotification
            data = {"params": None, **data}
            message_type = fallback
        try:
            return self._converter.structure(data, message_type)
        except Exception as exc:
            return describe_structure_error(exc)

    def _client_response(self, data: dict[str, Any]) -> None:
        """The client's answer to one of our requests (workspace/configuration, progress, applyEdit)."""
        try:
            message = self.structure_message(data)
        except Exception as exc:
            log.warning("could not read the client's response %r: %s", data.get("id"), exc)
            future = self._request_futures.pop(data["id"], None)
            if future is not None and not future.done():
                future.set_exception(JsonRpcInvalidParams(f"unreadable response: {exc}"))
            return
        self.handle_message(message)

    def _execute_handler(
        self,
        msg_id: Any,
        handler: Any,
        callback: Callable[[Future[Any]], None],
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        """pygls's, plus: the book-keeping entry goes once the handler is done. pygls files the futures
        of notification handlers and of the handlers its own generators call (didOpen, didChange,
        executeCommand) under fresh ids and never removes them: a leak per keystroke."""
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        future = self._request_futures.get(msg_id)
        if future is not None:
            future.add_done_callback(lambda f: self._forget_later(msg_id, f))

    def _run_generator(self, future: Any, *, gen: Any, result_future: Any) -> None:
        """pygls's, except that a cancelled step cancels the whole handler instead of raising
        CancelledError out of a loop callback (a traceback at every exit with work in flight)."""
        if future is not None and future.cancelled():
            gen.close()
            if not result_future.done():
                result_future.cancel()
            return
        super()._run_generator(future, gen=gen, result_future=result_future)

    def _forget_later(self, msg_id: Any, future: Any) -> None:
        # later, not now: `shutdown` cancels futures while it iterates over this dict
        def forget() -> None:
            if self._request_futures.get(msg_id) is future:
                del self._request_futures[msg_id]

        try:
            asyncio.get_running_loop().call_soon(forget)
        except RuntimeError:  # no loop in this thread (a thread handler finishing)
            loop = getattr(self, "_loop", None)
            if loop is not None:
                loop.call_soon_threadsafe(forget)

    # -- lifecycle --------------------------------------------------------------------------------

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        """pygls's initialize, with our `Workspace` (LSP line rules, no reads from disk) put in its place."""
        steps = super().lsp_initialize(params)
        try:
            step = next(steps)
        except StopIteration as done:
            self._use_our_workspace()
            return done.value
        self._use_our_workspace()
        while True:
            value = yield step
            try:
                step = steps.send(value)
            except StopIteration as done:
                return done.value

    def _use_our_workspace(self) -> None:
        old = self._workspace
        if old is None or isinstance(old, Workspace):
            return
        ws = Workspace(old.root_uri, old._sync_kind, list(old.folders.values()), old.position_encoding)
        self._workspace = ws

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Generator[Any, Any, None]:
        """Reached only if a caller bypasses `handle_body`; the exit code is decided the same way."""
        self.exit_code = 0 if self._shutdown else 1
        self._stop()
        yield from ()

    def _stop(self) -> None:
        if self.on_stop is not None:
            self.on_stop()

    # -- answers ----------------------------------------------------------------------------------

    def reply_error(self, msg_id: Any, code: int, message: str) -> None:
        log.warning("answered %s to request %r: %s", code, msg_id, message)
        # a plain dict: lsprotocol's message type leaves out an id of None, and JSON-RPC wants "id": null
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})

    def _send_handler_result(self, future: Future[Any], *, msg_id: Any) -> None:
        """A handler's result or error as the answer; a crash is logged and answered -32603."""
        self._request_futures.pop(msg_id, None)
        if future.cancelled():
            error = JsonRpcRequestCancelled(f'Request with id "{msg_id}" is canceled').to_response_error()
            self._send_response(msg_id, error=error)
            return
        exc = future.exception()
        if exc is None:
            self._send_response(msg_id, result=future.result())
        elif isinstance(exc, JsonRpcException):
            log.warning("request %r: %s", msg_id, exc)
            self._send_response(msg_id, error=exc.to_response_error())
        else:
            log.error("request %r failed", msg_id, exc_info=exc)
            message = f"Internal error: {type(exc).__name__}: {exc}"[:500]
            self._send_response(msg_id, error=types.ResponseError(code=INTERNAL_ERROR, message=message))

    def _check_handler_result(self, future: Future[Any]) -> None:
        """A notification handler's crash goes to the log (the user cannot act on it)."""
        if not future.cancelled() and (exc := future.exception()) is not None:
            log.error("a notification handler failed", exc_info=exc)

    def _send_data(self, data: Any) -> None:
        if not data or self.closed:
            return
        if self.writer is None:
            log.error("no transport to send a message on")
            return
        try:
            body = json.dumps(data, default=self._serialize_message, allow_nan=False).encode("utf-8")
        except Exception as exc:
            log.error("a message could not be written as JSON: %s", exc)
            msg_id = getattr(data, "id", _NO_ID)
            if getattr(data, "error", None) is None and valid_id(msg_id):
                error = types.ResponseError(
                    code=INTERNAL_ERROR, message="the result is not representable in JSON"
                )
                self._send_data(
                    {"jsonrpc": "2.0", "id": msg_id, "error": {"code": error.code, "message": error.message}}
                )
            return
        frame = b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        with self._write_lock:
            if self.closed:
                return
            try:
                self.writer.write(frame)
            except (OSError, ValueError) as exc:  # EPIPE, or a file already closed
                self.closed = True
                log.warning("the client's end of the connection is closed (%s): stopping", exc)
                self._stop()


def structure_position(value: Any, where: str) -> types.Position:
    """A command argument as an LSP Position; InvalidParams naming what is wrong."""
    if isinstance(value, types.Position):
        return value
    try:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object {{line, character}}, got {type(value).__name__}")
        line, character = value.get("line"), value.get("character")
        for name, v in (("line", line), ("character", character)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**31:
                raise ValueError(f"{name} must be an integer in [0, 2^31), got {v!r}")
        return types.Position(line=line, character=character)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise JsonRpcInvalidParams(f"{where}: position: {exc}") from None
