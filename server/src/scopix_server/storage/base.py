"""The storage protocol: write a stream while hashing it, then commit it under its content key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

__all__ = ["DERIVED_PREFIX", "PendingObject", "StorageBackend", "derived_key", "file_of_derived"]

DERIVED_PREFIX = "derived/"


def derived_key(tenant_id: str, file_id: str, name: str) -> str:
    """Where what the pipeline makes of a file lives: one folder per file, not shared."""
    return f"{DERIVED_PREFIX}{tenant_id}/{file_id}/{name}"


def file_of_derived(key: str) -> str | None:
    """The file id a derived object belongs to (``None`` for originals)."""
    parts = key.split("/")
    return parts[2] if key.startswith(DERIVED_PREFIX) and len(parts) == 4 else None


class PendingObject(Protocol):
    """An object being written. Nothing is visible under its final key until ``commit``."""

    size: int
    # True when identical bytes of a tenant share the key (content-addressed): the key is
    # claimed before ``commit`` and deleted only through ``services.objects``.
    shared: bool

    def write(self, chunk: bytes | memoryview) -> None:
        """Append bytes (and hash them); may hand the work to a background writer."""

    async def drain(self) -> None:
        """Wait while too much written data is still queued (backpressure for the reader)."""

    async def finish(self) -> None:
        """Wait until everything written is stored and hashed; no more writes after this."""

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the whole object (after ``finish``)."""

    @property
    def key(self) -> str:
        """The key ``commit`` stores the object under (after ``finish``): claim it first."""

    def open_written(self) -> BinaryIO:
        """Read back what was written, after ``finish`` (e.g. to inspect a container format)."""

    async def commit(self) -> str:
        """Finish, make the object durable under its content-addressed key, return the key."""

    async def abort(self) -> None:
        """Discard everything written; safe to call more than once and after a commit."""


@runtime_checkable
class StorageBackend(Protocol):
    def begin(self, tenant_id: str) -> PendingObject: ...

    def read(
        self,
        key: str,
        *,
        chunk_size: int = 1024 * 1024,
        start: int = 0,
        length: int | None = None,
    ) -> AsyncIterator[bytes]:
        """The object's bytes from ``start``, ``length`` of them (``None``: to the end)."""
        ...

    async def exists(self, key: str) -> bool: ...

    def local_copy(self, key: str) -> AbstractAsyncContextManager[Path]:
        """A local file with the object's bytes while the context lasts (for decoders)."""
        ...

    async def put(self, key: str, data: bytes) -> None:
        """Store a small derived object (a variant, extracted text) under ``key``, atomically."""
        ...

    async def put_file(self, key: str, path: Path) -> None:
        """Store the file at ``path`` under ``key``, atomically, streamed (any size)."""
        ...

    async def delete(self, key: str) -> None: ...

    def keys_older_than(self, seconds: float) -> AsyncIterator[str]:
        """Keys of committed objects last written more than ``seconds`` ago (for orphan sweeps)."""
        ...

    async def check(self) -> None:
        """Raise if the storage cannot be written to (used by ``/ready``)."""
        ...

    def clean_temporary(self, idle_seconds: float = 15 * 60) -> int:
        """Remove leftovers of interrupted writes (blocking); returns how many."""
        ...

    def presigned_url(
        self, key: str, *, filename: str, content_type: str, ttl_seconds: int
    ) -> str | None:
        """A URL that reads ``key`` without the server (S3), or ``None`` (the server signs one)."""
