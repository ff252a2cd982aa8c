"""The storage protocol: write a stream while hashing it, then commit it under its content key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import BinaryIO, Protocol, runtime_checkable

__all__ = ["PendingObject", "StorageBackend"]


class PendingObject(Protocol):
    """An object being written. Nothing is visible under its final key until ``commit``."""

    size: int

    def write(self, chunk: bytes) -> None:
        """Append bytes (and hash them)."""

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of everything written so far."""

    def open_written(self) -> BinaryIO:
        """Read back what was written (e.g. to inspect a container format)."""

    async def commit(self) -> str:
        """Make the object durable under its content-addressed key and return that key."""

    async def abort(self) -> None:
        """Discard everything written; safe to call more than once and after a commit."""


@runtime_checkable
class StorageBackend(Protocol):
    def begin(self, tenant_id: str) -> PendingObject: ...

    def read(self, key: str, *, chunk_size: int = 1024 * 1024) -> AsyncIterator[bytes]: ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None: ...

    async def check(self) -> None:
        """Raise if the storage cannot be written to (used by ``/ready``)."""
