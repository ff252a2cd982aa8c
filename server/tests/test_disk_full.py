"""A full disk, for real: the storage or the database on a small tmpfs that the test fills.

Every write that cannot be done answers 503 ``SERVICE_UNAVAILABLE`` naming the cause (never a
500), keeps nothing half-made, and works again once there is room. Needs root (to mount).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scopix_server import Settings
from server_support import LiveServer, make_key, png_bytes, start_server

pytestmark = [pytest.mark.socket, pytest.mark.embedded]  # (a folder and SQLite on a full disk)

MiB = 1024 * 1024


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.fail(f"these tests mount a small tmpfs and need root: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path, leave: int) -> Path:
    """Fill the filesystem of ``folder`` until ``leave`` bytes are free; the filler file."""
    filler = folder / f"filler-{uuid.uuid4().hex}"
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize
    with open(filler, "wb") as out, contextlib.suppress(OSError):
        out.write(b"\0" * max(0, free - leave))
    return filler


def client(server: LiveServer, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )


def assert_unavailable(answer: httpx.Response, cause: str) -> None:
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert cause in error["message"], error["message"]
    assert answer.headers["retry-after"]


@contextlib.contextmanager
def server_on(settings: Settings) -> Iterator[LiveServer]:
    server = start_server(settings)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def full_storage(tmp_path: Path) -> Iterator[tuple[LiveServer, Path]]:
    """A server whose storage (and data folder) is a 4 MiB tmpfs; its database lives apart."""
    with tmpfs(tmp_path / "disk", "4m") as disk:
        database = f"sqlite+aiosqlite:///{tmp_path / 'scopix.db'}"
        with server_on(Settings(data_dir=disk, database_url=database, workers=0)) as server:
            yield server, disk


def test_a_direct_upload_part_on_a_full_disk(full_storage: tuple[LiveServer, Path]) -> None:
    server, disk = full_storage
    with client(server, make_key(server.settings)) as api:
        data = png_bytes(8, 8) + os.urandom(MiB)
        started = api.post(
            "/files/direct-uploads", json={"filename": "big.png", "size_bytes": len(data)}
        ).json()
        filler = fill(disk, leave=256 * 1024)
        put = httpx.put(started["upload_url"], content=data, timeout=60)
        assert_unavailable(put, "storage is full")
        status = api.get(f"/files/direct-uploads/{started['upload_id']}").json()
        assert status["state"] == "pending" and status["received_parts"] == []
        filler.unlink()  # room again: the same URL takes the part, and complete records it
        assert httpx.put(started["upload_url"], content=data, timeout=60).status_code == 200
        done = api.post(f"/files/direct-uploads/{started['upload_id']}/complete", json={})
        assert done.status_code == 200, done.text
        assert api.get(f"/files/{started['image_id']}/download").content == data


def test_complete_on_a_full_disk_keeps_the_upload(full_storage: tuple[LiveServer, Path]) -> None:
    server, disk = full_storage
    with client(server, make_key(server.settings)) as api:
        data = png_bytes(8, 8) + os.urandom(MiB)
        started = api.post(
            "/files/direct-uploads", json={"filename": "big.png", "size_bytes": len(data)}
        ).json()
        assert httpx.put(started["upload_url"], content=data, timeout=60).status_code == 200
        filler = fill(disk, leave=128 * 1024)  # the part is in; joining it needs room again
        done = api.post(f"/files/direct-uploads/{started['upload_id']}/complete", json={})
        assert_unavailable(done, "storage is full")
        status = api.get(f"/files/direct-uploads/{started['upload_id']}").json()
        assert status["state"] == "pending" and status["received_parts"] == [1]
        assert api.get(f"/files/{started['image_id']}").status_code == 404
        filler.unlink()
        done = api.post(f"/files/direct-uploads/{started['upload_id']}/complete", json={})
        assert done.status_code == 200, done.text
        assert api.get(f"/files/{started['image_id']}/download").content == data


def test_a_streamed_upload_on_a_full_disk(full_storage: tuple[LiveServer, Path]) -> None:
    server, disk = full_storage
    with client(server, make_key(server.settings)) as api:
        filler = fill(disk, leave=64 * 1024)
        big = png_bytes(8, 8) + os.urandom(512 * 1024)
        answer = api.post("/files/upload", files={"file": ("big.png", big)})
        assert answer.status_code == 503, answer.text
        filler.unlink()
        assert api.post("/files/upload", files={"file": ("big.png", big)}).status_code == 201


@pytest.fixture
def full_database(tmp_path: Path) -> Iterator[tuple[LiveServer, Path]]:
    """A server whose SQLite database is on a 2 MiB tmpfs; its storage lives apart."""
    with tmpfs(tmp_path / "dbdisk", "2m") as disk:
        database = f"sqlite+aiosqlite:///{disk / 'scopix.db'}"
        settings = Settings(data_dir=tmp_path / "data", database_url=database, workers=0)
        with server_on(settings) as server:
            yield server, disk


def test_writes_on_a_full_database_disk(full_database: tuple[LiveServer, Path]) -> None:
    server, disk = full_database
    with client(server, make_key(server.settings)) as api:
        made = api.post("/files/upload", files={"file": ("a.png", png_bytes(3, 3))}).json()
        filler = fill(disk, leave=0)
        # enough new rows that the database must grow (a page or two may still be free)
        for attempt in range(200):
            answer = api.post(
                "/files/upload",
                files={"file": (f"{attempt}.png", png_bytes(4, 4, (attempt, 2, 3)))},
                data={"title": "x" * 200, "tags": ",".join(f"tag{i}" for i in range(30))},
            )
            if answer.status_code != 201:
                break
        assert_unavailable(answer, "database's disk is full")
        patched = api.patch(f"/files/{made['image_id']}", json={"title": "y" * 250})
        assert patched.status_code in (200, 503)
        if patched.status_code == 503:
            assert_unavailable(patched, "database")
        assert api.get(f"/files/{made['image_id']}").status_code == 200  # reads still work
        filler.unlink()
        again = api.post("/files/upload", files={"file": ("b.png", png_bytes(5, 9))})
        assert again.status_code == 201, again.text
