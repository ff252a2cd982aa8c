"""Local-folder storage: atomic writes (temp file, fsync, rename) in a content-addressed layout.

Layout under the root: ``tmp/`` for objects being written, and
``objects/<tenant>/<sha[:2]>/<sha[2:4]>/<sha>`` for committed ones. Identical bytes of one tenant
share one object; tenants never share objects.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
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
    """Writes a stream to a temporary file and hashes it.

    Writing stays in the caller's thread (a copy into the page cache, as cheap as it gets), but
    past ``INLINE_BYTES`` hashing moves to a helper thread so that it overlaps with receiving the
    next bytes (hashlib releases the GIL). Chunks go over in batches of ``BATCH_BYTES``, hashed
    in one call: one hand-over and one GIL round trip per batch instead of per network read
    (measured: upload/raw-PUT ratio 0.66-0.75 before, 0.74-0.76 after). ``drain()`` keeps the
    unhashed backlog under ``MAX_BACKLOG`` bytes; the chunks are immutable, so sharing is safe.
    """

    INLINE_BYTES = 1024 * 1024
    shared = True  # content-addressed
    MAX_BACKLOG = 8 * 1024 * 1024
    BATCH_BYTES = 1024 * 1024

    def __init__(self, storage: LocalStorage, tenant_id: str) -> None:
        self._storage = storage
        self._tenant_id = tenant_id
        self._temp = storage.tmp_dir / f"{uuid.uuid4().hex}.part"
        # Created by the first drain() or finish(), in a worker thread: creating a file can
        # wait on the filesystem journal behind other uploads' fsyncs, and on the event loop
        # that wait stalled every request (measured: a quarter of the loop's time in a batch
        # of 200 KB files). Chunks written before that are kept here (one network read).
        self._file: BinaryIO | None = None
        self._early: list[bytes | memoryview] = []
        self._hash = hashlib.sha256()
        self.size = 0
        self._done = False
        self._finished = False
        self._thread: threading.Thread | None = None
        self._queue: queue.SimpleQueue[list[bytes | memoryview] | None] = queue.SimpleQueue()
        self._batch: list[bytes | memoryview] = []
        self._batch_bytes = 0
        self._backlog = 0
        self._room = threading.Condition()
        self._error: BaseException | None = None

    # --- writing ---

    def write(self, chunk: bytes | memoryview) -> None:
        if self._finished or self._done:
            raise RuntimeError("object already finished, committed or aborted")
        if self._error is not None:
            raise self._error
        self.size += len(chunk)
        if self._file is None:
            self._early.append(chunk)
        else:
            self._file.write(chunk)
        if self._thread is None and self.size <= self.INLINE_BYTES:
            self._hash.update(chunk)
            return
        self._batch.append(chunk)
        self._batch_bytes += len(chunk)
        if self._batch_bytes >= self.BATCH_BYTES:
            self._hand_over()

    def _hand_over(self) -> None:
        """Queue the collected chunks for the helper thread (one hand-over per batch)."""
        if not self._batch:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._hash_queue, daemon=True)
            self._thread.start()
        with self._room:
            self._backlog += self._batch_bytes
        self._queue.put(self._batch)
        self._batch, self._batch_bytes = [], 0

    def _hash_queue(self) -> None:
        while (batch := self._queue.get()) is not None:
            joined = b"".join(batch)
            size = len(joined)
            if self._error is None:
                try:
                    self._hash.update(joined)
                except BaseException as error:  # reported to the request by write/finish
                    self._error = error
            with self._room:
                self._backlog -= size
                self._room.notify_all()

    def _wait_for_room(self) -> None:
        with self._room:
            self._room.wait_for(lambda: self._backlog <= self.MAX_BACKLOG // 2)

    def _create(self, early: list[bytes | memoryview]) -> BinaryIO:
        handle = open(self._temp, "wb")  # noqa: SIM115 - closed in commit/abort
        try:
            for chunk in early:
                handle.write(chunk)
        except BaseException:  # (a full disk: nobody else holds the handle yet)
            with contextlib.suppress(OSError):
                handle.close()
            raise
        return handle

    async def _ensure_file(self) -> None:
        if self._file is not None or self._done:
            return
        early, self._early = self._early, []
        handle = await anyio.to_thread.run_sync(self._create, early)
        for chunk in self._early:  # (written meanwhile)
            handle.write(chunk)
        self._early = []
        self._file = handle

    async def drain(self) -> None:
        await self._ensure_file()
        if self._backlog > self.MAX_BACKLOG:
            await anyio.to_thread.run_sync(self._wait_for_room)

    async def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._hand_over()
        if self._thread is not None:
            self._queue.put(None)
            await anyio.to_thread.run_sync(self._thread.join)
            self._thread = None
        if self._error is not None:
            raise self._error
        await self._ensure_file()

    @property
    def sha256(self) -> str:
        if not self._finished:
            raise RuntimeError("call finish() before reading the hash")
        return self._hash.hexdigest()

    @property
    def key(self) -> str:
        digest = self.sha256
        return f"{self._tenant_id}/{digest[:2]}/{digest[2:4]}/{digest}"

    def open_written(self) -> BinaryIO:
        if not self._finished:
            raise RuntimeError("call finish() before reading the object back")
        if self._file is not None:
            self._file.flush()
        return open(self._temp, "rb")

    # --- outcome ---

    def _commit_sync(self) -> str:
        assert self._file is not None
        handle, self._file = self._file, None
        with handle:  # (closed even when the disk is full: flush and fsync raise then)
            handle.flush()
            os.fsync(handle.fileno())
        key = self.key
        target = self._storage.path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._temp, target)  # same bytes may exist already: replacing is harmless
        _fsync_dir(target.parent)
        self._done = True
        return key

    async def commit(self) -> str:
        await self.finish()
        return await anyio.to_thread.run_sync(self._commit_sync)

    async def abort(self) -> None:
        if self._thread is not None:  # stop the writer before the file goes away
            self._finished = True
            self._queue.put(None)
            await anyio.to_thread.run_sync(self._thread.join)
            self._thread = None
        self._early = []
        if self._file is not None:
            handle, self._file = self._file, None
            with contextlib.suppress(OSError):  # (a full disk fails the final flush)
                handle.close()
        if not self._done:
            self._done = True  # (the file may exist even if never opened here: a cancelled create)
            with contextlib.suppress(FileNotFoundError):
                await anyio.to_thread.run_sync(self._temp.unlink)


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

    async def read(
        self,
        key: str,
        *,
        chunk_size: int = 1024 * 1024,
        start: int = 0,
        length: int | None = None,
    ) -> AsyncIterator[bytes]:
        left = length
        async with await anyio.open_file(self.path_of(key), "rb") as handle:
            if start:
                await handle.seek(start)
            while left is None or left > 0:
                chunk = await handle.read(chunk_size if left is None else min(chunk_size, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    async def exists(self, key: str) -> bool:
        return await anyio.to_thread.run_sync(self.path_of(key).is_file)

    @contextlib.asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        path = self.path_of(key)
        if not await anyio.to_thread.run_sync(path.is_file):
            raise FileNotFoundError(f"object {key} is missing from the storage")
        yield path  # already local: no copy

    async def put(self, key: str, data: bytes) -> None:
        await anyio.to_thread.run_sync(self._replace, key, lambda out: out.write(data))

    async def put_file(self, key: str, path: Path) -> None:
        def copy(out: BinaryIO) -> None:
            with open(path, "rb") as source:
                shutil.copyfileobj(source, out, 1024 * 1024)

        await anyio.to_thread.run_sync(self._replace, key, copy)

    def _replace(self, key: str, fill: Callable[[BinaryIO], object]) -> None:
        """Blocking: ``fill`` a temporary file, then put it at ``key`` at once (synced)."""
        target = self.path_of(key)
        temp = self.tmp_dir / f"{uuid.uuid4().hex}.part"
        try:
            with open(temp, "wb") as out:
                fill(out)
                out.flush()
                os.fsync(out.fileno())
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        _fsync_dir(target.parent)

    async def size(self, key: str) -> int:
        stat = await anyio.to_thread.run_sync(self.path_of(key).stat)
        return stat.st_size

    async def delete(self, key: str) -> None:
        def remove() -> None:
            with contextlib.suppress(FileNotFoundError):
                self.path_of(key).unlink()

        await anyio.to_thread.run_sync(remove)

    async def keys_older_than(self, seconds: float) -> AsyncIterator[str]:
        cutoff = time.time() - seconds

        def scan() -> list[str]:
            found = []
            for path in self.objects_dir.rglob("*"):
                try:
                    if path.is_file() and path.stat().st_mtime < cutoff:
                        found.append(path.relative_to(self.objects_dir).as_posix())
                except FileNotFoundError:  # removed while we looked
                    continue
            return found

        for key in await anyio.to_thread.run_sync(scan):
            yield key

    async def check(self) -> None:
        def probe() -> None:
            marker = self.tmp_dir / f".ready-{uuid.uuid4().hex}"
            marker.write_bytes(b"ok")
            marker.unlink()

        await anyio.to_thread.run_sync(probe)

    def presigned_url(
        self, key: str, *, filename: str, content_type: str, ttl_seconds: int
    ) -> str | None:
        return None  # served by the server itself, under its own signed token

    def clean_temporary(self, idle_seconds: float = 15 * 60) -> int:
        """Remove leftovers of interrupted writes; returns how many.

        A file being written is touched by every chunk, so only files idle for ``idle_seconds``
        are leftovers; another server process sharing the folder keeps its uploads in flight.
        """
        cutoff = time.time() - idle_seconds
        removed = 0
        for leftover in self.tmp_dir.glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
                    removed += 1
        return removed
