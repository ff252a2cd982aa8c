"""Blocking twins of the resources: each method runs the async one on ``SyncScopix``'s loop.

``blocking(Files.upload)`` makes a method with the same parameters, return type and docstring,
so the sync API is typed and documented without writing any operation twice.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

from ..types.files import UserFile
from .files import Files
from .images import Images

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["SyncFiles", "SyncImages"]

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


class SyncFiles(_Twin):
    """Blocking ``client.files`` of ``SyncScopix`` (same methods, no ``await``)."""

    upload = blocking(Files.upload)
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
    describe = blocking(Files.describe)
    check_quota = blocking(Files.check_quota)

    def list_all(
        self,
        *,
        search: str | None = None,
        search_mode: str = "all",
        tags: Sequence[str] | None = None,
        media_types: Sequence[str] | None = None,
        folder_id: str | None = None,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        has_description: bool | None = None,
        sort_by: str = "created_at",
        sort_order: str = "desc",
        page_size: int = 50,
    ) -> Iterator[UserFile]:
        """Every matching file, page after page (``for file in client.files.list_all()``)."""
        files: Files = self._async
        offset = 0
        while True:
            page = self._loop.call(
                files.list,
                search=search,
                search_mode=search_mode,
                tags=tags,
                media_types=media_types,
                folder_id=folder_id,
                date_from=date_from,
                date_to=date_to,
                has_description=has_description,
                sort_by=sort_by,
                sort_order=sort_order,
                limit=page_size,
                offset=offset,
            )
            yield from page.items
            if not page.has_more or not page.items:
                return
            offset += len(page.items)


class SyncImages(_Twin):
    """Blocking ``client.images`` of ``SyncScopix``."""

    analyze = blocking(Images.analyze)
