"""``client.chats``: ask questions about your library, in sessions; answers in one piece or
streamed as typed tokens (server-sent events)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from .._exceptions import ScopixError, SSEStreamError
from .._responses import json_object, parse
from ..types.chat import (
    ChatMessage,
    ChatResponse,
    ChatSession,
    ChatSessionDetail,
    ChatSessionSummary,
    ChatToken,
    SessionList,
)
from ._common import path_id

if TYPE_CHECKING:
    import httpx

    from .._base_client import HTTPCore

__all__ = ["ChatSessionContext", "Chats"]

# The most one event's data lines may hold together, and any one line: a stream past it is cut
# off, so that a server that never ends an event (or a line) cannot fill the client's memory.
MAX_EVENT_BYTES = 1024 * 1024
_LINE_END = re.compile(rb"\r\n|\r|\n")


def _ids(values: Sequence[str] | None, name: str) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        raise TypeError(f"{name} must be a list of ids, e.g. {name}=['...']")
    return [str(v) for v in values]


def _message(message: str, force: bool, expected: Sequence[str] | None) -> dict[str, Any]:
    if not isinstance(message, str) or not message.strip():
        raise ValueError("message must be a non-empty string")
    body: dict[str, Any] = {"message": message, "force_detailed_analysis": force}
    if expected is not None:
        body["expected_image_ids"] = _ids(expected, "expected_image_ids")
    return body


def _too_big(what: str, limit: int) -> SSEStreamError:
    """The error of a stream cut off because ``what`` grew past ``limit`` bytes."""
    return SSEStreamError(
        f"the answer's stream was cut off: {what} passed {limit} bytes, the most one event may "
        "hold; get_session() shows whether the answer was recorded",
        details={"limit_bytes": limit},
    )


async def _lines(chunks: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    """The lines of a byte stream without their ends (CRLF, LF or CR, as server-sent events
    allow). Raises ``SSEStreamError`` once a line passes ``limit`` bytes, ended or not: unlike
    ``httpx``'s ``aiter_lines``, a line that never ends is not kept growing."""
    line = bytearray()
    after_cr = False  # the last chunk ended in CR: a LF that opens the next one belongs to it
    async for chunk in chunks:
        if not chunk:
            continue
        start = 1 if after_cr and chunk.startswith(b"\n") else 0
        after_cr = False
        for end in _LINE_END.finditer(chunk, start):
            line += chunk[start : end.start()]
            if len(line) > limit:
                raise _too_big("a line", limit)
            yield bytes(line)
            line.clear()
            start = end.end()
            after_cr = end.group() == b"\r" and start == len(chunk)
        line += chunk[start:]
        if len(line) > limit:
            raise _too_big("a line", limit)
    if line:
        yield bytes(line)


async def _events(
    response: httpx.Response, limit: int = MAX_EVENT_BYTES
) -> AsyncGenerator[ChatToken, None]:
    """Server-sent events as ``ChatToken``s (``event:`` and ``data:`` lines, a blank line ends
    one; comments and unknown fields are skipped). An event whose data lines together pass
    ``limit`` bytes raises ``SSEStreamError``."""
    kind, data, size = "message", list[str](), 0
    async for raw in _lines(response.aiter_bytes(), limit):
        line = raw.decode("utf-8", "replace")
        if line == "":
            if data:
                text = "\n".join(data)
                try:
                    payload = json.loads(text)
                except ValueError:
                    payload = {"type": kind, "content": text}
                if not isinstance(payload, dict):
                    payload = {"type": kind, "content": text}
                yield ChatToken.from_event(kind, payload)
            kind, data, size = "message", [], 0
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            size += len(raw)
            if size > limit:
                raise _too_big("an event's data", limit)
            data.append(line[5:].removeprefix(" "))


class Chats:
    """Reached as ``client.chats``. A server with no language model configured answers in
    retrieval mode: the files and passages that best match, and a sentence that says so."""

    def __init__(self, core: HTTPCore) -> None:
        self._core = core

    async def create_session(
        self,
        *,
        title: str | None = None,
        image_ids: Sequence[str] | None = None,
        use_all_images: bool = True,
    ) -> ChatSession:
        """Start a session. ``image_ids`` pins the images it may use; with none pinned it uses
        the whole library unless ``use_all_images`` is False."""
        body: dict[str, Any] = {"title": title, "use_all_images": use_all_images}
        if image_ids is not None:
            body["initial_image_ids"] = _ids(image_ids, "image_ids")
        response = await self._core.request("POST", "/chat/sessions", json=body)
        return parse(response, ChatSession.from_api_response)

    async def send(
        self,
        message: str,
        *,
        session_id: str,
        force_detailed_analysis: bool = False,
        expected_image_ids: Sequence[str] | None = None,
    ) -> ChatResponse:
        """Ask ``message`` in ``session_id``; the whole answer."""
        response = await self._core.request(
            "POST",
            f"/chat/sessions/{path_id(session_id)}/messages",
            json=_message(message, force_detailed_analysis, expected_image_ids),
        )
        return parse(response, ChatResponse.from_api_response)

    async def send_stream(
        self,
        message: str,
        *,
        session_id: str,
        force_detailed_analysis: bool = False,
        expected_image_ids: Sequence[str] | None = None,
        debug_reasoning: bool = False,
    ) -> AsyncGenerator[ChatToken, None]:
        """Ask ``message``; the answer as it comes, token by token (``ChatTokenType.TOKEN``
        pieces of text, then ``COMPLETE`` with the message id and citations, or ``ERROR``). A
        stream that breaks off before either raises ``SSEStreamError``."""
        body = _message(message, force_detailed_analysis, expected_image_ids)
        params = {"debug_reasoning": "true"} if debug_reasoning else None
        ended = False
        received = 0
        async with self._core.stream(
            "POST",
            f"/chat/sessions/{path_id(session_id)}/messages/stream",
            json=body,
            params=params,
        ) as response:
            try:
                async for token in _events(response):
                    received += 1
                    if token.type.value in ("complete", "error"):
                        ended = True
                    yield token
            except SSEStreamError as error:  # (an event over the size limit)
                error.events_received = received
                raise
            except ScopixError:
                raise
            except Exception as exc:  # (httpx's read errors: the connection broke)
                if ended:
                    return
                raise SSEStreamError(
                    f"the answer's stream broke off before it ended: {exc or type(exc).__name__}; "
                    "get_session() shows whether the answer was recorded",
                    events_received=received,
                ) from exc
        if not ended:
            raise SSEStreamError(
                "the answer's stream ended before its complete (or error) token; "
                "get_session() shows whether the answer was recorded",
                events_received=received,
            )

    async def get_session(
        self, session_id: str, *, include_messages: bool = True, message_limit: int | None = None
    ) -> ChatSessionDetail:
        params: dict[str, Any] = {"include_messages": "true" if include_messages else "false"}
        if message_limit is not None:
            params["message_limit"] = message_limit
        response = await self._core.request(
            "GET", f"/chat/sessions/{path_id(session_id)}", params=params
        )
        return parse(response, ChatSessionDetail.from_api_response)

    async def list_sessions(
        self, *, limit: int = 20, offset: int = 0, active_only: bool = False
    ) -> SessionList:
        """One page of your sessions, the most recently used first."""
        if not 1 <= limit <= 100:
            raise ValueError(f"limit must be from 1 to 100; got {limit}")
        if offset < 0:
            raise ValueError(f"offset must be 0 or more; got {offset}")
        params = {"limit": limit, "offset": offset, "active_only": str(active_only).lower()}
        response = await self._core.request("GET", "/chat/sessions", params=params)
        return parse(response, SessionList.from_api_response)

    async def iter_sessions(
        self, *, page_size: int = 20, active_only: bool = False
    ) -> AsyncGenerator[ChatSessionSummary, None]:
        """Every session, page after page."""
        offset = 0
        while True:
            page = await self.list_sessions(limit=page_size, offset=offset, active_only=active_only)
            for item in page.sessions:
                yield item
            if not page.has_more or not page.sessions:
                return
            offset += len(page.sessions)

    async def get_messages(self, session_id: str, *, limit: int | None = None) -> list[ChatMessage]:
        """The session's messages in order (with ``limit``, the last ``limit``)."""
        detail = await self.get_session(session_id, message_limit=limit)
        return detail.messages

    async def update_images(self, session_id: str, image_ids: Sequence[str]) -> dict[str, Any]:
        """Pin the images the session may use (an empty list: none pinned)."""
        response = await self._core.request(
            "PUT",
            f"/chat/sessions/{path_id(session_id)}/images",
            json={"image_ids": _ids(image_ids, "image_ids")},
        )
        return json_object(response)

    async def update_documents(
        self, session_id: str, document_ids: Sequence[str]
    ) -> dict[str, Any]:
        """Pin the documents the session may quote (an empty list: every document)."""
        response = await self._core.request(
            "PUT",
            f"/chat/sessions/{path_id(session_id)}/documents",
            json={"document_ids": _ids(document_ids, "document_ids")},
        )
        return json_object(response)

    async def close_session(self, session_id: str) -> dict[str, Any]:
        """Close the session (it stays readable; closing twice is harmless)."""
        response = await self._core.request("DELETE", f"/chat/sessions/{path_id(session_id)}")
        return json_object(response)

    @asynccontextmanager
    async def session(
        self,
        *,
        title: str | None = None,
        image_ids: Sequence[str] | None = None,
        use_all_images: bool = True,
        auto_close: bool = True,
    ) -> AsyncIterator[ChatSessionContext]:
        """A session for the ``async with`` block, closed at its end unless ``auto_close`` is
        False::

            async with client.chat_session(title="Invoices") as chat:
                answer = await chat.send("Which invoices mention a late fee?")
        """
        created = await self.create_session(
            title=title, image_ids=image_ids, use_all_images=use_all_images
        )
        context = ChatSessionContext(self, created)
        try:
            yield context
        finally:
            if auto_close:
                await self.close_session(created.session_id)


class ChatSessionContext:
    """One session's calls without repeating its id (``client.chat_session(...)``)."""

    def __init__(self, chats: Chats, created: ChatSession) -> None:
        self._chats = chats
        self.session = created
        self.session_id = created.session_id

    async def send(self, message: str, **options: Any) -> ChatResponse:
        return await self._chats.send(message, session_id=self.session_id, **options)

    def send_stream(self, message: str, **options: Any) -> AsyncGenerator[ChatToken, None]:
        return self._chats.send_stream(message, session_id=self.session_id, **options)

    async def messages(self, *, limit: int | None = None) -> list[ChatMessage]:
        return await self._chats.get_messages(self.session_id, limit=limit)

    async def update_images(self, image_ids: Sequence[str]) -> dict[str, Any]:
        return await self._chats.update_images(self.session_id, image_ids)

    async def update_documents(self, document_ids: Sequence[str]) -> dict[str, Any]:
        return await self._chats.update_documents(self.session_id, document_ids)
