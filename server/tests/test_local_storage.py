"""The local storage backend: content addressing, hashing across the helper thread, cleanup."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest

from scopix_server.storage import LocalStorage

pytestmark = pytest.mark.anyio


def chunks_of(data: bytes, seed: int) -> list[bytes | memoryview]:
    """``data`` cut at random points, alternating bytes and memoryviews (as the parser sends)."""
    rng = random.Random(seed)
    pieces: list[bytes | memoryview] = []
    position = 0
    while position < len(data):
        step = rng.choice([1, 7, 4096, 65536, 300_000])
        piece = data[position : position + step]
        pieces.append(memoryview(piece) if len(pieces) % 2 else piece)
        position += step
    return pieces


MIB = 1024 * 1024


@pytest.mark.parametrize("size", [0, 1, MIB, MIB + 1, 5 * MIB + 123])
async def test_committed_key_is_the_sha256_of_the_bytes(tmp_path: Path, size: int) -> None:
    storage = LocalStorage(tmp_path)
    data = os.urandom(size)
    pending = storage.begin("tenant-a")
    for piece in chunks_of(data, seed=size):
        pending.write(piece)
        await pending.drain()
    key = await pending.commit()
    digest = hashlib.sha256(data).hexdigest()
    assert key == f"tenant-a/{digest[:2]}/{digest[2:4]}/{digest}"
    assert pending.sha256 == digest
    assert storage.path_of(key).read_bytes() == data
    assert list(storage.tmp_dir.iterdir()) == []


async def test_backpressure_keeps_the_hash_correct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = LocalStorage(tmp_path)
    pending = storage.begin("t")
    # tiny limits: every write hands a batch over and drain() has to wait for the thread
    monkeypatch.setattr(pending, "INLINE_BYTES", 10)
    monkeypatch.setattr(pending, "BATCH_BYTES", 1000)
    monkeypatch.setattr(pending, "MAX_BACKLOG", 3000)
    data = os.urandom(2 * 1024 * 1024)
    for piece in chunks_of(data, seed=3):
        pending.write(piece)
        await pending.drain()
        assert pending._backlog <= 3000 + 300_000  # at most one read over the limit
    await pending.finish()
    assert pending.sha256 == hashlib.sha256(data).hexdigest()
    await pending.abort()


async def test_abort_removes_the_partial_file_even_mid_batch(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    pending = storage.begin("t")
    data = os.urandom(3 * 1024 * 1024 + 5)
    for piece in chunks_of(data, seed=1):
        pending.write(piece)
    await pending.abort()
    await pending.abort()  # idempotent
    assert list(storage.tmp_dir.iterdir()) == []
    with pytest.raises(RuntimeError, match="already finished"):
        pending.write(b"more")


async def test_identical_bytes_share_one_object_per_tenant(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    data = os.urandom(2 * 1024 * 1024)
    keys = []
    for tenant in ("a", "a", "b"):
        pending = storage.begin(tenant)
        pending.write(data)
        keys.append(await pending.commit())
    assert keys[0] == keys[1]
    assert keys[0] != keys[2]  # tenants never share objects
    assert storage.path_of(keys[2]).read_bytes() == data
