"""A streamed response whose body is closed as soon as the response ends.

Starlette's ``StreamingResponse`` stops iterating its body when the client hangs up, and leaves
the body's generator suspended until the garbage collector finalises it, in a task of its own,
maybe after the event loop has stopped. The body's ``finally`` (a database session given back, a
chat turn released, a storage stream closed) then runs late or never. Here it runs at once.
"""

from __future__ import annotations

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

__all__ = ["ClosingStreamingResponse"]


class ClosingStreamingResponse(StreamingResponse):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await close()
