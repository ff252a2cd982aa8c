"""Bounds on clients that send slowly or too much at once, before any route sees them.

- ``BodyGuardMiddleware``: a request body that sends nothing for ``body_idle_timeout_seconds``
  is cut off with 408 (a stalled upload no longer holds a connection, a file descriptor and an
  upload slot forever), and one client address may send at most ``max_uploads_per_client``
  bodies at once (429 beyond).
- ``HeaderDeadlineProtocol``: ``serve``'s HTTP protocol closes a connection that has not sent a
  request's headers within ``header_timeout_seconds`` (header-only connections), and answers a
  request target (path and query) longer than ``MAX_TARGET_BYTES`` with 414 in the API's error
  body, before holding more of it (httptools cannot parse a longer one: it answered a plain-text
  400 after keeping all of it).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .errors import RequestTimeout, error_body, error_response, new_request_id

__all__ = [
    "MAX_TARGET_BYTES",
    "BodyGuardMiddleware",
    "HeaderDeadlineProtocol",
    "header_deadline_protocol",
]

# The longest request target httptools can parse (its URL offsets are 16-bit).
MAX_TARGET_BYTES = 65_535


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding":
            return True
    return False


class BodyGuardMiddleware:
    def __init__(self, app: ASGIApp, *, idle_timeout: float, max_per_client: int) -> None:
        self.app = app
        self.idle_timeout = idle_timeout
        self.max_per_client = max_per_client
        self.sending: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else "unknown"
        if self.sending[client] >= self.max_per_client:
            refusal = error_response(
                Request(scope),
                429,
                "RATE_LIMITED",
                f"this address is already sending {self.max_per_client} request bodies; wait "
                "for one to finish",
                details={"max_uploads_per_client": self.max_per_client},
                headers={"Retry-After": "1"},
            )
            await refusal(scope, receive, send)
            return
        done = False

        async def receive_within_deadline() -> Message:
            nonlocal done
            if done:  # (after the body: waits for a disconnect, as long as it takes)
                return await receive()
            try:
                with anyio.fail_after(self.idle_timeout):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    f"the request body stalled: nothing arrived for {self.idle_timeout:g} s",
                    details={"body_idle_timeout_seconds": self.idle_timeout},
                ) from None
            done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        self.sending[client] += 1
        try:
            await self.app(scope, receive_within_deadline, send)
        finally:
            self.sending[client] -= 1
            if not self.sending[client]:
                del self.sending[client]


class _TargetTooLong(Exception):
    """Raised from the parser's callback: the parse stops, and ``send_400_response`` says 414."""


def _target_too_long_response() -> bytes:
    request_id = new_request_id()
    message = (
        f"the request target (path and query) is longer than {MAX_TARGET_BYTES:,} bytes; send "
        "fewer values per request"
    )
    details = {"max_target_bytes": MAX_TARGET_BYTES}
    body = json.dumps(error_body("VALIDATION_ERROR", message, request_id, details)).encode()
    head = (
        b"content-type: application/json\r\nx-request-id: %s\r\ncontent-length: %d\r\n"
        b"connection: close\r\n\r\n" % (request_id.encode(), len(body))
    )
    return STATUS_LINE[414] + head + body


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's headers and a bound on
    the request target."""

    header_timeout = 15.0
    _deadline: asyncio.TimerHandle | None = None
    _target_too_long = False

    def on_url(self, url: bytes) -> None:
        if len(self.url) + len(url) > MAX_TARGET_BYTES:
            self._target_too_long = True
            raise _TargetTooLong  # (the parser stops here: no more of it is kept)
        super().on_url(url)

    def send_400_response(self, msg: str) -> None:
        if not self._target_too_long:
            super().send_400_response(msg)
            return
        self.transport.write(_target_too_long_response())
        self.transport.close()

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        self._disarm()  # (the keep-alive timeout takes over until the next request begins)
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def header_deadline_protocol(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` with this deadline."""
    attributes: dict[str, Any] = {"header_timeout": seconds}
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), attributes)
