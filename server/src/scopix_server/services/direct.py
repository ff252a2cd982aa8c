"""Direct uploads on local storage: parts received through signed URLs, checked, then stored.

A part is written to ``<storage tmp>/direct/<upload id>/<n>.part`` (atomically, under its final
name only once it is whole) with its MD5 as ETag beside it. ``complete`` streams the parts, in
order, into a normal pending object: hashed on the way, so the size and the client's
``content_hash`` are checked without loading the file, and stored under its content key like any
upload. Whatever fails, the parts are removed; nothing half-made is ever recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from ..errors import BadRequest, PayloadTooLarge
from ..services.media import HEAD_BYTES
from ..services.uploads import FilePart
from ..storage import LocalStorage, StorageBackend

__all__ = [
    "expected_size",
    "folder_of",
    "part_tokens_key",
    "parts_dir",
    "read_parts",
    "received_parts",
    "remove_parts",
    "store_part",
]

CHUNK = 1024 * 1024


def folder_of(storage: StorageBackend, upload_id: str) -> Path | None:
    """Where an upload's parts are kept (``None``: the storage keeps no parts locally)."""
    if not isinstance(storage, LocalStorage):
        return None
    return storage.tmp_dir / "direct" / upload_id


def parts_dir(storage: StorageBackend, upload_id: str) -> Path:
    folder = folder_of(storage, upload_id)
    if folder is None:
        raise BadRequest(
            "direct uploads through the server need local storage; with S3 storage they are "
            "not available yet (upload files up to the streaming limit with /files/upload)"
        )
    return folder


def part_tokens_key(upload_id: str, part_number: int) -> str:
    """What a part URL's signed token grants (never an object key: those have no colon)."""
    return f"upload:{upload_id}:{part_number}"


def expected_size(size_bytes: int, part_size: int, part_count: int, part_number: int) -> int:
    if part_number < part_count:
        return part_size
    return size_bytes - part_size * (part_count - 1)


async def store_part(folder: Path, part_number: int, body: AsyncIterator[bytes], size: int) -> str:
    """Receive one part of exactly ``size`` bytes; its ETag (the MD5, as S3 gives it)."""
    await anyio.to_thread.run_sync(lambda: folder.mkdir(parents=True, exist_ok=True))
    temp = folder / f".{part_number}.{uuid.uuid4().hex}.tmp"
    digest = hashlib.md5(usedforsecurity=False)
    received = 0
    try:
        async with await anyio.open_file(temp, "wb") as out:
            async for chunk in body:
                received += len(chunk)
                if received > size:
                    raise PayloadTooLarge(
                        f"part {part_number} is {size} bytes; more was sent",
                        details={"expected_bytes": size},
                    )
                digest.update(chunk)
                await out.write(chunk)
        if received != size:
            raise BadRequest(
                f"part {part_number} must be {size} bytes; {received} arrived",
                details={"expected_bytes": size, "received_bytes": received},
            )
        etag = digest.hexdigest()

        def publish() -> None:
            (folder / f"{part_number}.etag").write_text(etag)
            os.replace(temp, folder / f"{part_number}.part")

        await anyio.to_thread.run_sync(publish)
        return etag
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def received_parts(folder: Path) -> dict[int, str]:
    """The whole parts received so far: part number -> ETag."""
    found: dict[int, str] = {}
    if not folder.is_dir():
        return found
    for path in folder.glob("*.part"):
        etag_file = folder / f"{path.stem}.etag"
        if path.stem.isdigit() and etag_file.is_file():
            found[int(path.stem)] = etag_file.read_text().strip()
    return found


async def read_parts(folder: Path, count: int, target: FilePart) -> None:
    """Stream parts 1..count into ``target`` (its pending object hashes them)."""
    for number in range(1, count + 1):
        async with await anyio.open_file(folder / f"{number}.part", "rb") as handle:
            while chunk := await handle.read(CHUNK):
                target.size += len(chunk)
                if len(target.head) < HEAD_BYTES:
                    target.head += chunk[: HEAD_BYTES - len(target.head)]
                target.pending.write(chunk)
                await target.pending.drain()
    await target.pending.finish()


async def remove_parts(folder: Path) -> None:
    await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))
