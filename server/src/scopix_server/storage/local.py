"""Local-folder storage: atomic writes (temp file, fsync, rename) in a content-addressed layout.

Layout under the root: ``tmp/`` for objects being written, and
``objects/<tenant>/<sha[:2]>/<sha[2:4]>/<sha>`` for committed ones. Identical bytes of one tenant
share one object; tenants never share objects.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import anyio

__all__ = ["LocalStorage"]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _LocalPending:
    def __init__(self, storage: LocalStorage, tenant_id: str) -> None:
        self._storage = storage
        self._tenant_id = tenant_id
        self._temp = storage.tmp_dir / f"{uuid.uuid4().hex}.part"
        self._file: BinaryIO | None = open(self._temp, "wb")  # noqa: SIM115 - closed in commit/abort
        self._hash = hashlib.sha256()
        self.size = 0
        self._done = False

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            raise RuntimeError("object already committed or aborted")
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def open_written(self) -> BinaryIO:
        if self._file is not None:
            self._file.flush()
        return open(self._temp, "rb")

    def _commit_sync(self) -> str:
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        digest = self.sha256
        key = f"{self._tenant_id}/{digest[:2]}/{digest[2:4]}/{digest}"
        target = self._storage.path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._temp, target)  # same bytes may exist already: replacing is harmless
        _fsync_dir(target.parent)
        self._done = True
        return key

    async def commit(self) -> str:
        return await anyio.to_thread.run_sync(self._commit_sync)

    async def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if not self._done:
            self._done = True
            with contextlib.suppress(FileNotFoundError):
                self._temp.unlink()


class LocalStorage:
    """Objects as files under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.tmp_dir = self.root / "tmp"
        self.objects_dir = self.root / "objects"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.objects_dir.mkdir(parents=True, exist_ok=True)

    def path_of(self, key: str) -> Path:
        path = (self.objects_dir / key).resolve()
        if self.objects_dir not in path.parents:  # keys are ours, but never trust a path
            raise ValueError(f"invalid object key {key!r}")
        return path

    def begin(self, tenant_id: str) -> _LocalPending:
        return _LocalPending(self, tenant_id)

    async def read(self, key: str, *, chunk_size: int = 1024 * 1024) -> AsyncIterator[bytes]:
        async with await anyio.open_file(self.path_of(key), "rb") as handle:
            while chunk := await handle.read(chunk_size):
                yield chunk

    async def exists(self, key: str) -> bool:
        return await anyio.to_thread.run_sync(self.path_of(key).is_file)

    async def size(self, key: str) -> int:
        stat = await anyio.to_thread.run_sync(self.path_of(key).stat)
        return stat.st_size

    async def delete(self, key: str) -> None:
        def remove() -> None:
            with contextlib.suppress(FileNotFoundError):
                self.path_of(key).unlink()

        await anyio.to_thread.run_sync(remove)

    async def check(self) -> None:
        def probe() -> None:
            marker = self.tmp_dir / f".ready-{uuid.uuid4().hex}"
            marker.write_bytes(b"ok")
            marker.unlink()

        await anyio.to_thread.run_sync(probe)

    def clean_temporary(self) -> int:
        """Remove leftovers of writes that a crash interrupted; returns how many."""
        removed = 0
        for leftover in self.tmp_dir.glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
                removed += 1
        return removed
