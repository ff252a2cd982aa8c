"""Where a direct upload's bytes wait until ``complete`` checks them: one ``Staging`` per storage.

- **Local storage** (``LocalStaging``): the URLs point at the server (``PUT
  /storage/uploads/{token}``, HMAC-signed, expiring, bound to one upload and part). A part is
  written to ``<storage tmp>/direct/<upload id>/<n>.part`` (atomically, under its final name only
  once whole) with its MD5 as ETag beside it. ``complete`` streams the parts, in order, into a
  normal pending object, which hashes them and stores them under their content key.
- **S3 storage** (``S3Staging``): the URLs are the bucket's own presigned ``PutObject`` /
  ``UploadPart`` URLs (see ``storage.s3_staging``); the bytes never pass through the server,
  and the object they make becomes the file's object (no copy).

Either way the size and the hash are read without loading the file, and whatever fails, the
staged bytes can be removed (``discard``). The stagings take plain values (``StagedUpload``):
the upload's record and its checks belong to ``services.direct``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import anyio

from .base import PendingObject, StorageBackend
from .local import LocalStorage
from .s3 import S3Storage
from .s3_staging import S3Uploads
from .signing import Signer

__all__ = [
    "JOINED",
    "LocalStaging",
    "S3Staging",
    "StagedObject",
    "StagedUpload",
    "Staging",
    "WrongPartSize",
    "expected_size",
    "part_tokens_key",
    "staging_for",
]

CHUNK = 1024 * 1024
JOINED = ""  # the ETag reported for parts already joined into the object


@dataclass(frozen=True)
class StagedUpload:
    """What the staging needs to know of a direct upload."""

    id: str
    method: str  # single | multipart
    size_bytes: int
    part_size: int
    part_count: int
    expires_at: datetime
    storage_upload_id: str | None = None  # S3's multipart upload id (from ``begin``)


@dataclass(frozen=True)
class StagedObject:
    """The staged bytes, read once: a pending object (hashed, sized), and its first bytes."""

    pending: PendingObject
    head: bytes
    size: int


class WrongPartSize(ValueError):
    """A part of another size than its place in the upload requires."""

    def __init__(self, number: int, expected: int, received: int | None) -> None:
        self.number = number
        self.expected = expected
        self.received = received  # None: more than expected was sent
        more = "more was sent" if received is None else f"{received} arrived"
        super().__init__(f"part {number} must be {expected} bytes; {more}")


def part_tokens_key(upload_id: str, part_number: int) -> str:
    """What a part URL's signed token grants (never an object key: those have no colon)."""
    return f"upload:{upload_id}:{part_number}"


def _ttl(upload: StagedUpload) -> int:
    """Seconds its URLs stay valid: until the upload expires."""
    remaining = upload.expires_at - datetime.now(timezone.utc)
    return max(1, int(remaining.total_seconds()))


def expected_size(size_bytes: int, part_size: int, part_count: int, part_number: int) -> int:
    if part_number < part_count:
        return part_size
    return size_bytes - part_size * (part_count - 1)


class Staging(Protocol):
    """The storage side of direct uploads."""

    async def begin(self, upload: StagedUpload) -> str | None:
        """Prepare to receive; the storage's own id of the upload (S3 multipart), if any."""
        ...

    def url(self, upload: StagedUpload, number: int, *, base: str, signer: Signer) -> str:
        """Where the client PUTs part ``number`` (1 for a single PUT)."""
        ...

    async def received(self, upload: StagedUpload) -> dict[int, tuple[str, int]]:
        """The whole parts received so far: part number -> (ETag, size)."""
        ...

    async def assemble(self, upload: StagedUpload, received: dict[int, tuple[str, int]]) -> None:
        """Join the received parts (S3: ``CompleteMultipartUpload``); raise ``ValueError``
        with a reason if the store refuses them."""

    async def read(
        self, upload: StagedUpload, tenant_id: str, storage: StorageBackend, *, head_bytes: int
    ) -> StagedObject:
        """Read the staged bytes once, into a pending object of ``storage`` with its size, hash
        and first ``head_bytes``, ready to be checked and committed like any upload."""
        ...

    async def discard(self, upload: StagedUpload, *, kept: bool = False) -> None:
        """Remove whatever was staged; safe to repeat. ``kept``: the upload was recorded and
        its object (on S3, the joined parts) is the file's now: only leftovers go."""


class LocalStaging:
    def __init__(self, storage: LocalStorage) -> None:
        self._storage = storage

    def folder(self, upload_id: str) -> Path:
        return self._storage.tmp_dir / "direct" / upload_id

    async def begin(self, upload: StagedUpload) -> str | None:
        return None

    def url(self, upload: StagedUpload, number: int, *, base: str, signer: Signer) -> str:
        token = signer.token_for(part_tokens_key(upload.id, number), "", "", _ttl(upload))
        return f"{base.rstrip('/')}/api/v2/storage/uploads/{token}"

    async def store_part(
        self, upload: StagedUpload, number: int, body: AsyncIterator[bytes]
    ) -> str:
        """Receive one part of exactly its expected size; its ETag (the MD5, as S3 gives it)."""
        size = expected_size(upload.size_bytes, upload.part_size, upload.part_count, number)
        folder = self.folder(upload.id)
        await anyio.to_thread.run_sync(lambda: folder.mkdir(parents=True, exist_ok=True))
        temp = folder / f".{number}.{uuid.uuid4().hex}.tmp"
        digest = hashlib.md5(usedforsecurity=False)
        arrived = 0
        try:
            async with await anyio.open_file(temp, "wb") as out:
                async for chunk in body:
                    arrived += len(chunk)
                    if arrived > size:
                        raise WrongPartSize(number, size, None)
                    digest.update(chunk)
                    await out.write(chunk)
            if arrived != size:
                raise WrongPartSize(number, size, arrived)
            etag = digest.hexdigest()

            def publish() -> None:
                (folder / f"{number}.etag").write_text(etag)
                os.replace(temp, folder / f"{number}.part")

            await anyio.to_thread.run_sync(publish)
            return etag
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()

    async def received(self, upload: StagedUpload) -> dict[int, tuple[str, int]]:
        folder = self.folder(upload.id)

        def scan() -> dict[int, tuple[str, int]]:
            found: dict[int, tuple[str, int]] = {}
            if not folder.is_dir():
                return found
            for path in folder.glob("*.part"):
                etag_file = folder / f"{path.stem}.etag"
                if path.stem.isdigit() and etag_file.is_file():
                    found[int(path.stem)] = (etag_file.read_text().strip(), path.stat().st_size)
            return found

        return await anyio.to_thread.run_sync(scan)

    async def assemble(self, upload: StagedUpload, received: dict[int, tuple[str, int]]) -> None:
        return None  # (parts are read in order by ``read``)

    async def read(
        self, upload: StagedUpload, tenant_id: str, storage: StorageBackend, *, head_bytes: int
    ) -> StagedObject:
        pending = storage.begin(tenant_id)
        head = bytearray()
        size = 0
        folder = self.folder(upload.id)
        try:
            for number in range(1, upload.part_count + 1):
                async with await anyio.open_file(folder / f"{number}.part", "rb") as handle:
                    while chunk := await handle.read(CHUNK):
                        size += len(chunk)
                        if len(head) < head_bytes:
                            head += chunk[: head_bytes - len(head)]
                        pending.write(chunk)
                        await pending.drain()
            await pending.finish()
        except BaseException:
            await pending.abort()
            raise
        return StagedObject(pending, bytes(head), size)

    async def discard(self, upload: StagedUpload, *, kept: bool = False) -> None:
        folder = self.folder(upload.id)  # (the file's object is a copy: the parts always go)
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))


class S3Staging:
    def __init__(self, storage: S3Storage) -> None:
        self._uploads = S3Uploads(storage)

    async def begin(self, upload: StagedUpload) -> str | None:
        if upload.method != "multipart":
            return None
        upload_id: str = await anyio.to_thread.run_sync(self._uploads.start_multipart, upload.id)
        return upload_id

    def url(self, upload: StagedUpload, number: int, *, base: str, signer: Signer) -> str:
        ttl = _ttl(upload)
        if upload.storage_upload_id is None:
            return self._uploads.put_url(upload.id, ttl)
        return self._uploads.part_url(upload.id, upload.storage_upload_id, number, ttl)

    async def received(self, upload: StagedUpload) -> dict[int, tuple[str, int]]:
        """The parts the bucket holds at their right size (a part of another size, e.g. cut
        short, is not counted: the client sends it again, which replaces it)."""
        parts = await anyio.to_thread.run_sync(
            self._uploads.parts, upload.id, upload.storage_upload_id
        )
        count = upload.part_count
        if not parts and upload.storage_upload_id is not None:
            # The multipart upload is gone: joined by a complete that did not finish? Then
            # the object holds every part (its ETag is not a part's: ``JOINED``).
            whole = await anyio.to_thread.run_sync(self._uploads.parts, upload.id, None)
            if whole.get(1, ("", 0))[1] == upload.size_bytes:
                return {
                    n: (JOINED, expected_size(upload.size_bytes, upload.part_size, count, n))
                    for n in range(1, count + 1)
                }
        return {
            number: (etag, size)
            for number, (etag, size) in parts.items()
            if 1 <= number <= count
            and size == expected_size(upload.size_bytes, upload.part_size, count, number)
        }

    async def assemble(self, upload: StagedUpload, received: dict[int, tuple[str, int]]) -> None:
        # (``received`` holds only parts of the right size: their sizes need no second look)
        if upload.storage_upload_id is None:
            return
        etags = [received[n][0] for n in range(1, upload.part_count + 1)]
        if all(etag == JOINED for etag in etags):
            return
        await anyio.to_thread.run_sync(
            self._uploads.finish_multipart, upload.id, upload.storage_upload_id, etags
        )

    async def read(
        self, upload: StagedUpload, tenant_id: str, storage: StorageBackend, *, head_bytes: int
    ) -> StagedObject:
        staged = await anyio.to_thread.run_sync(self._uploads.hash_object, upload.id)
        pending: PendingObject = staged
        return StagedObject(pending, bytes(staged.head[:head_bytes]), staged.size)

    async def discard(self, upload: StagedUpload, *, kept: bool = False) -> None:
        if kept:  # its object is the file's now: only unjoined parts go
            if upload.storage_upload_id is not None:
                await anyio.to_thread.run_sync(
                    self._uploads.discard_parts, upload.id, upload.storage_upload_id
                )
            return
        await anyio.to_thread.run_sync(self._uploads.discard, upload.id, upload.storage_upload_id)


def staging_for(storage: StorageBackend) -> Staging | None:
    """The staging of ``storage``, or None for storage that has none."""
    if isinstance(storage, LocalStorage):
        return LocalStaging(storage)
    if isinstance(storage, S3Storage):
        return S3Staging(storage)
    return None
