"""Streamed responses whose body is closed as soon as the response ends, and server-sent events
kept alive while nothing else is sent.

Starlette's ``StreamingResponse`` stops iterating its body when the client hangs up, and leaves
the body's generator suspended until the garbage collector finalises it, in a task of its own,
maybe after the event loop has stopped. The body's ``finally`` (a database session given back, a
chat turn released, a storage stream closed) then runs late or never. Here it runs at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Mapping

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

__all__ = ["ClosingStreamingResponse", "EventStreamResponse"]


class ClosingStreamingResponse(StreamingResponse):
    """``on_close`` runs once the response has ended, however it ended: even when the client
    hung up before the body was ever started (a generator that never ran has no ``finally``)."""

    def __init__(
        self,
        content: AsyncIterable[bytes],
        *,
        media_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope.get("method") == "HEAD":  # the headers only (the body is never read)
                await send(
                    {"type": "http.response.start", "status": self.status_code,
                     "headers": self.raw_headers}
                )  # fmt: skip
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                close = getattr(self.body_iterator, "aclose", None)
                if close is not None:
                    await close()
                if self._on_close is not None:
                    await self._on_close()


class EventStreamResponse(ClosingStreamingResponse):
    """``text/event-stream`` that sends ``ping`` whenever ``interval`` seconds pass without an
    event, so that a proxy in between does not take a slow answer for a dead connection."""

    def __init__(
        self,
        content: AsyncIterable[bytes],
        *,
        ping: bytes,
        interval: float,
        headers: Mapping[str, str] | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(
            content, media_type="text/event-stream", headers=headers, on_close=on_close
        )
        self._ping = ping
        self._interval = interval

    async def stream_response(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        chunks, received = anyio.create_memory_object_stream[bytes]()
        async with anyio.create_task_group() as group:
            group.start_soon(self._pump, chunks)  # (the body runs in a task of its own)
            async with received:
                while True:
                    body = self._ping  # (unless an event comes in time)
                    with anyio.move_on_after(self._interval):
                        try:
                            body = await received.receive()
                        except anyio.EndOfStream:
                            break
                    await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(self, chunks: MemoryObjectSendStream[bytes]) -> None:
        async with chunks:
            async for chunk in self.body_iterator:
                await chunks.send(chunk.encode() if isinstance(chunk, str) else bytes(chunk))
