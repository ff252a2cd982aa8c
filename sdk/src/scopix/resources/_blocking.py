"""Blocking twins of the resources: each method runs the async one on ``SyncScopix``'s loop.

``blocking(Files.upload)`` makes a method with the same parameters, return type and docstring,
so the sync API is typed and documented without writing any operation twice.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from .files import Files
from .images import Images
from .people import People
from .search import AgentSearch

__all__ = ["SyncAgentSearch", "SyncFiles", "SyncImages", "SyncPeople"]

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
