"""Blocking twins of the resources: each method runs the async one on ``SyncScopix``'s loop.

``blocking(Files.upload)`` makes a method with the same parameters, return type and docstring,
so the sync API is typed and documented without writing any operation twice.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Sequence
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from ..types.chat import ChatMessage, ChatResponse, ChatSession, ChatToken
from .chat import Chats
from .files import Files
from .images import Images
from .people import People
from .search import AgentSearch

__all__ = [
    "SyncAgentSearch",
    "SyncChatSession",
    "SyncChats",
    "SyncFiles",
    "SyncImages",
    "SyncPeople",
]

P = ParamSpec("P")
R = TypeVar("R")
A = TypeVar("A")


class _Loop(Protocol):
    def call(self, func: Callable[..., Awaitable[R]], *args: Any, **kwargs: Any) -> R: ...


class _Twin:
    def __init__(self, loop: _Loop, resource: Any) -> None:
        self._loop = loop
        self._async = resource


def blocking(
    method: Callable[Concatenate[A, P], Awaitable[R]],
) -> Callable[Concatenate[_Twin, P], R]:
    @functools.wraps(method)
    def run(self: _Twin, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._loop.call(method, self._async, *args, **kwargs)

    return run


def iterating(
    method: Callable[Concatenate[A, P], AsyncGenerator[R, None]],
) -> Callable[Concatenate[_Twin, P], Iterator[R]]:
    """A blocking iterator over an async generator method (each item fetched on the loop)."""

    @functools.wraps(method)
    def run(self: _Twin, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[R]:
        items = method(self._async, *args, **kwargs)
        try:
            while True:
                try:
                    item = self._loop.call(items.__anext__)
                except StopAsyncIteration:
                    return
                yield item
        finally:
            with contextlib.suppress(RuntimeError):  # (the client may be closed by now)
                self._loop.call(items.aclose)

    return run


class SyncFiles(_Twin):
    """Blocking ``client.files`` of ``SyncScopix`` (same methods, no ``await``)."""

    upload = blocking(Files.upload)
    resume_upload = blocking(Files.resume_upload)
    upload_batch = blocking(Files.upload_batch)
    get_session = blocking(Files.get_session)
    wait_for_session = blocking(Files.wait_for_session)
    get_processing_status = blocking(Files.get_processing_status)
    wait_for_description = blocking(Files.wait_for_description)
    get = blocking(Files.get)
    list = blocking(Files.list)
    update = blocking(Files.update)
    delete = blocking(Files.delete)
    batch_delete = blocking(Files.batch_delete)
    download = blocking(Files.download)
    get_variant = blocking(Files.get_variant)
    get_text = blocking(Files.get_text)
    get_chunks = blocking(Files.get_chunks)
    similar = blocking(Files.similar)
    describe = blocking(Files.describe)
    check_quota = blocking(Files.check_quota)

    list_all = iterating(Files.list_all)


class SyncImages(_Twin):
    """Blocking ``client.images`` of ``SyncScopix``."""

    analyze = blocking(Images.analyze)


class SyncAgentSearch(_Twin):
    """Blocking ``client.agent_search`` of ``SyncScopix``."""

    images = blocking(AgentSearch.images)
    documents = blocking(AgentSearch.documents)


class SyncPeople(_Twin):
    """Blocking ``client.people`` of ``SyncScopix``."""

    list = blocking(People.list)
    files = blocking(People.files)
    rename = blocking(People.rename)
    merge = blocking(People.merge)


class SyncChats(_Twin):
    """Blocking ``client.chats`` of ``SyncScopix`` (``send_stream`` is a plain iterator)."""

    create_session = blocking(Chats.create_session)
    send = blocking(Chats.send)
    get_session = blocking(Chats.get_session)
    list_sessions = blocking(Chats.list_sessions)
    get_messages = blocking(Chats.get_messages)
    update_images = blocking(Chats.update_images)
    update_documents = blocking(Chats.update_documents)
    close_session = blocking(Chats.close_session)

    send_stream = iterating(Chats.send_stream)
    iter_sessions = iterating(Chats.iter_sessions)

    @contextlib.contextmanager
    def session(
        self,
        *,
        title: str | None = None,
        image_ids: Sequence[str] | None = None,
        use_all_images: bool = True,
        auto_close: bool = True,
    ) -> Iterator[SyncChatSession]:
        """A session for the ``with`` block, closed at its end unless ``auto_close`` is False."""
        created = self.create_session(
            title=title, image_ids=image_ids, use_all_images=use_all_images
        )
        try:
            yield SyncChatSession(self, created)
        finally:
            if auto_close:
                self.close_session(created.session_id)


class SyncChatSession:
    """One session's blocking calls without repeating its id (``client.chat_session(...)``)."""

    def __init__(self, chats: SyncChats, created: ChatSession) -> None:
        self._chats = chats
        self.session = created
        self.session_id = created.session_id

    def send(self, message: str, **options: Any) -> ChatResponse:
        return self._chats.send(message, session_id=self.session_id, **options)

    def send_stream(self, message: str, **options: Any) -> Iterator[ChatToken]:
        return self._chats.send_stream(message, session_id=self.session_id, **options)

    def messages(self, *, limit: int | None = None) -> list[ChatMessage]:
        return self._chats.get_messages(self.session_id, limit=limit)

    def update_images(self, image_ids: Sequence[str]) -> dict[str, Any]:
        return self._chats.update_images(self.session_id, image_ids)

    def update_documents(self, document_ids: Sequence[str]) -> dict[str, Any]:
        return self._chats.update_documents(self.session_id, document_ids)
