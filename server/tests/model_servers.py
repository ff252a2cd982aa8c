"""Local HTTP servers that speak the OpenAI chat-completions and Anthropic Messages protocols.

Each answers from a script (a list of ``Reply``), checks requests the way the real services do
(headers, required fields, decodable images) and records them, so that tests see exactly what
the providers sent. They run on a real socket in a thread.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image


@dataclass
class Reply:
    text: str | None = None  # what the model "writes" (wrapped in the protocol's answer)
    status: int = 200
    body: bytes | None = None  # raw body instead (malformed answers, error bodies)
    error: tuple[str, str] | None = None  # (type or code, message) in the protocol's error shape
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    refusal: bool = False
    tool_calls: list[dict[str, Any]] | None = None  # the model calls tools (``tool_call``)
    pace: float = 0.0  # seconds between the pieces of a streamed answer
    cut: bool = False  # a streamed answer stops halfway: the connection just closes


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    image_size: tuple[int, int] | None  # of the image the request carried


def tool_call(name: str, arguments: Any, ident: str = "call_1") -> dict[str, Any]:
    """One OpenAI tool call (``arguments``: a dict, sent as its JSON, or raw text as is)."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": ident, "type": "function", "function": {"name": name, "arguments": raw}}


def good_answer(description: str = "A red square on a white page.", **extra: Any) -> str:
    return json.dumps(
        {"description": description, "tags": ["red", "square"], "key_elements": ["square"]} | extra
    )


class ModelServer:
    """``protocol`` is "openai" or "anthropic"; ``key`` is the API key it requires."""

    def __init__(self, protocol: str, *, key: str | None = None, streams: bool = True) -> None:
        self.protocol = protocol
        self.key = key
        self.streams = streams  # False: ``stream`` is ignored, as some servers do
        self.script: list[Reply] = []
        self.default = Reply(text=good_answer())
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        port = self._httpd.server_address[1]
        return f"http://127.0.0.1:{port}" + ("/v1" if self.protocol == "openai" else "")

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def next_reply(self) -> Reply:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    # --- the protocols ---

    def _refused(self, headers: dict[str, str], body: dict[str, Any]) -> Reply | None:
        """What the real service answers to a request it would not accept."""
        if self.protocol == "anthropic":
            if headers.get("x-api-key") != self.key:
                return Reply(status=401, error=("authentication_error", "invalid x-api-key"))
            if "anthropic-version" not in headers:
                return Reply(status=400, error=("invalid_request_error", "anthropic-version"))
            if not isinstance(body.get("max_tokens"), int) or not body.get("messages"):
                return Reply(status=400, error=("invalid_request_error", "max_tokens, messages"))
        else:
            if self.key and headers.get("authorization") != f"Bearer {self.key}":
                return Reply(status=401, error=("invalid_api_key", "Incorrect API key provided"))
            if not body.get("model") or not body.get("messages"):
                return Reply(status=400, error=("invalid_request_error", "model, messages"))
        return None

    def _images(self, body: dict[str, Any]) -> list[bytes]:
        found = []
        for message in body.get("messages", []):
            content = message.get("content")
            for part in content if isinstance(content, list) else []:
                if part.get("type") == "image_url":
                    url = part["image_url"]["url"]
                    assert url.startswith("data:image/jpeg;base64,"), url[:40]
                    found.append(base64.b64decode(url.split(",", 1)[1]))
                elif part.get("type") == "image":
                    assert part["source"]["media_type"] == "image/jpeg"
                    found.append(base64.b64decode(part["source"]["data"]))
        return found

    def _answer(self, reply: Reply) -> bytes:
        if reply.body is not None:
            return reply.body
        if reply.error is not None:
            kind, message = reply.error
            if self.protocol == "anthropic":
                return json.dumps(
                    {"type": "error", "error": {"type": kind, "message": message}}
                ).encode()
            return json.dumps(
                {"error": {"message": message, "type": "error", "code": kind}}
            ).encode()
        if self.protocol == "anthropic":
            content: list[dict[str, Any]] = [{"type": "text", "text": reply.text or ""}]
            content += [_tool_use(call) for call in reply.tool_calls or []]
            return json.dumps(
                {
                    "id": "msg_test",
                    "type": "message",
                    "role": "assistant",
                    "model": "test",
                    "content": content,
                    "stop_reason": "refusal" if reply.refusal else "end_turn",
                    "usage": {"input_tokens": 10, "output_tokens": 10},
                }
            ).encode()
        message: dict[str, Any] = {"role": "assistant", "content": reply.text}
        if reply.tool_calls is not None:
            message["tool_calls"] = reply.tool_calls
        if reply.refusal:
            message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
        return json.dumps(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "model": "test",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            }
        ).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self
        expected = "/v1/chat/completions" if self.protocol == "openai" else "/v1/messages"

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if self.path != expected:
                    reply = Reply(status=404, error=("not_found", f"no route {self.path}"))
                    body: dict[str, Any] = {}
                else:
                    body = json.loads(raw)
                    images = server._images(body)
                    size = Image.open(io.BytesIO(images[0])).size if images else None
                    server.seen.append(Seen(self.path, headers, body, size))
                    reply = server._refused(headers, body) or server.next_reply()
                time.sleep(reply.delay)
                streamed = body.get("stream") is True and server.streams
                if streamed and reply.status < 400 and reply.body is None:
                    self._stream(server._events(reply, body), reply)
                    return
                payload = server._answer(reply)
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (timeout tests)

            def _stream(self, events: list[bytes], reply: Reply) -> None:
                """Server-sent events, the body ending when the connection closes."""
                if reply.cut:
                    events = events[: len(events) // 2]
                try:
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("connection", "close")
                    self.end_headers()
                    for event in events:
                        self.wfile.write(event)
                        self.wfile.flush()
                        time.sleep(reply.pace)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

        return Handler

    def _events(self, reply: Reply, body: dict[str, Any]) -> list[bytes]:
        """The answer as the protocol streams it: the text in small pieces, tool calls with
        their arguments in two halves, usage at the end."""
        text = reply.text or ""
        pieces = [text[i : i + 6] for i in range(0, len(text), 6)]
        calls = reply.tool_calls or []
        if self.protocol == "anthropic":
            return _anthropic_events(pieces, calls)
        events: list[dict[str, Any]] = []
        for piece in pieces:
            events.append({"delta": {"content": piece}})
        for index, call in enumerate(calls):
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            start = {"index": index, "id": call["id"], "type": "function"}
            start["function"] = {"name": call["function"]["name"], "arguments": arguments[:half]}
            events.append({"delta": {"tool_calls": [start]}})
            rest = {"index": index, "function": {"arguments": arguments[half:]}}
            events.append({"delta": {"tool_calls": [rest]}})
        events.append({"delta": {}, "finish_reason": "tool_calls" if calls else "stop"})
        chunks = [
            {"object": "chat.completion.chunk", "choices": [{"index": 0, **e}]} for e in events
        ]
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
            chunks.append({"object": "chat.completion.chunk", "choices": [], "usage": usage})
        out = [f"data: {json.dumps(chunk)}\n\n".encode() for chunk in chunks]
        return [*out, b"data: [DONE]\n\n"]


def _tool_use(call: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI tool call (``tool_call``) as an Anthropic tool_use block."""
    try:
        arguments = json.loads(call["function"]["arguments"])
    except (ValueError, RecursionError):
        arguments = call["function"]["arguments"]  # (sent as is, as a broken model would)
    return {
        "type": "tool_use",
        "id": call["id"],
        "name": call["function"]["name"],
        "input": arguments,
    }


def _anthropic_events(pieces: list[str], calls: list[dict[str, Any]]) -> list[bytes]:
    def event(kind: str, **data: Any) -> bytes:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()

    usage = {"input_tokens": 10, "output_tokens": 1}
    out = [event("message_start", message={"id": "msg_test", "role": "assistant", "usage": usage})]
    out.append(event("ping"))
    out.append(event("content_block_start", index=0, content_block={"type": "text", "text": ""}))
    for piece in pieces:
        out.append(
            event("content_block_delta", index=0, delta={"type": "text_delta", "text": piece})
        )
    out.append(event("content_block_stop", index=0))
    for index, call in enumerate(calls, start=1):
        block = {**_tool_use(call), "input": {}}
        out.append(event("content_block_start", index=index, content_block=block))
        raw = call["function"]["arguments"]
        for part in (raw[: len(raw) // 2], raw[len(raw) // 2 :]):
            delta = {"type": "input_json_delta", "partial_json": part}
            out.append(event("content_block_delta", index=index, delta=delta))
        out.append(event("content_block_stop", index=index))
    stop = {"stop_reason": "tool_use" if calls else "end_turn"}
    out.append(event("message_delta", delta=stop, usage={"output_tokens": 10}))
    out.append(event("message_stop"))
    return out


class EmbeddingServer:
    """An OpenAI-protocol ``/v1/embeddings`` endpoint on a real socket.

    Its vectors are hashed bags of words (``dimension`` numbers), so texts that share words are
    near each other and a test can predict which files a query finds. ``script`` lists replies
    (failures) served before the vectors; every request is recorded in ``seen``.
    """

    def __init__(self, *, dimension: int = 512, key: str | None = None) -> None:
        self.dimension = dimension
        self.key = key
        self.delay = 0.0  # seconds each answer waits (a slow or hung server)
        self.slow_when: Callable[[list[str]], bool] | None = None  # which inputs wait (default all)
        self.script: list[Reply] = []
        self.seen: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def vector(self, text: str) -> list[float]:
        import hashlib
        import re

        values = [0.0] * self.dimension
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.sha256(word.encode()).digest()
            values[int.from_bytes(digest[:4], "big") % self.dimension] += 1.0
        return values

    def _answer(self, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, bytes]:
        def error(status: int, code: str, message: str) -> tuple[int, bytes]:
            return status, json.dumps({"error": {"message": message, "code": code}}).encode()

        if self.key and headers.get("authorization") != f"Bearer {self.key}":
            return error(401, "invalid_api_key", "Incorrect API key provided")
        texts = body.get("input")
        if not body.get("model") or not isinstance(texts, list) or not texts:
            return error(400, "invalid_request_error", "model and input are required")
        with self._lock:
            reply = self.script.pop(0) if self.script else None
        if reply is not None:
            if reply.error:
                return error(reply.status, *reply.error)
            return reply.status, reply.body or b""
        data = [
            {"object": "embedding", "index": i, "embedding": self.vector(str(text))}
            for i, text in enumerate(texts)
        ]
        return 200, json.dumps({"object": "list", "data": data, "model": body["model"]}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if self.path != "/v1/embeddings":
                    status, payload = 404, b'{"error": {"message": "no such route"}}'
                else:
                    body = json.loads(raw)
                    server.seen.append(body)
                    status, payload = server._answer(headers, body)
                    started = time.monotonic()
                    texts = [str(t) for t in body.get("input") or []]
                    if server.slow_when is None or server.slow_when(texts):
                        while time.monotonic() - started < server.delay:  # (may be lowered)
                            time.sleep(0.05)
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (killed, or gave up)

        return Handler
