"""The purge: deleted files go after the retention window; shared objects stay while used."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from scopix_server.db.models import utcnow
from scopix_server.db.session import create_engine, create_sessionmaker
from scopix_server.services.retention import purge
from scopix_server.storage import open_storage
from server_support import LiveServer, make_key, png_bytes, stored_objects


def run_purge(live: LiveServer, days_ahead: int) -> tuple[int, int]:
    async def go() -> tuple[int, int]:
        engine = create_engine(live.settings.resolved_database_url)
        try:
            report = await purge(
                create_sessionmaker(engine),
                open_storage(live.settings.resolved_storage_url),
                retention_days=live.settings.retention_days,
                now=utcnow() + timedelta(days=days_ahead),
            )
        finally:
            await engine.dispose()
        return report.files, report.objects

    return asyncio.run(go())


def test_purge_after_the_retention_window(live: LiveServer) -> None:
    key = make_key(live.settings)
    shared, alone = png_bytes(6, 6, (7, 7, 7)), png_bytes(6, 6, (8, 8, 8))
    with httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}) as api:
        first = api.post("/files/upload", files={"file": ("s1.png", shared)}).json()
        second = api.post("/files/upload", files={"file": ("s2.png", shared)}).json()
        single = api.post("/files/upload", files={"file": ("one.png", alone)}).json()
        assert first["object_key"] == second["object_key"]  # same bytes, one object
        api.delete(f"/files/{first['image_id']}")
        api.delete(f"/files/{single['image_id']}")
        objects = {p.name for p in stored_objects(live.settings)}
        assert single["object_key"].rsplit("/", 1)[1] in objects

        assert run_purge(live, days_ahead=29) == (0, 0)  # still inside the window
        files, purged_objects = run_purge(live, days_ahead=31)
        assert files >= 2
        remaining = {p.name for p in stored_objects(live.settings)}
        assert single["object_key"].rsplit("/", 1)[1] not in remaining  # nobody else used it
        assert first["object_key"].rsplit("/", 1)[1] in remaining  # s2.png still uses it
        download = api.get(f"/files/{second['image_id']}/download")
        assert download.status_code == 200 and download.content == shared
        assert purged_objects >= 1


@pytest.mark.embedded  # (reads the storage folder or SQLite itself)
def test_orphan_objects_are_swept_after_the_grace_period(live: LiveServer) -> None:
    """Bytes left by a crash between storing and recording are removed, and only those."""
    import os
    import time

    from scopix_server.services.retention import ORPHAN_GRACE, sweep_orphans

    key = make_key(live.settings)
    with httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}) as api:
        kept = api.post("/files/upload", files={"file": ("k.png", png_bytes(9, 9, (5, 6, 7)))})
        kept_key = kept.json()["object_key"]
    objects = live.settings.data_dir / "storage" / "objects"
    old = time.time() - ORPHAN_GRACE.total_seconds() - 60
    crash_leftover = objects / "tenant-x" / "ab" / "cd" / ("abcd" + "0" * 60)
    crash_leftover.parent.mkdir(parents=True, exist_ok=True)
    crash_leftover.write_bytes(b"orphan")
    os.utime(crash_leftover, (old, old))
    fresh_leftover = crash_leftover.with_name("abcd" + "1" * 60)  # maybe an upload in flight
    fresh_leftover.write_bytes(b"in flight")
    os.utime(objects / kept_key, (old, old))  # old, but a row uses it

    async def go() -> int:
        engine = create_engine(live.settings.resolved_database_url)
        try:
            return await sweep_orphans(
                create_sessionmaker(engine),
                open_storage(live.settings.resolved_storage_url),
                grace=ORPHAN_GRACE,
            )
        finally:
            await engine.dispose()

    assert asyncio.run(go()) == 1
    assert not crash_leftover.exists()
    assert fresh_leftover.exists()
    assert (objects / kept_key).exists()


def test_only_idle_temporary_files_are_leftovers(tmp_path) -> None:
    import os
    import time

    from scopix_server.storage import LocalStorage

    storage = LocalStorage(tmp_path / "storage")
    idle = storage.tmp_dir / "old.part"
    idle.write_bytes(b"interrupted")
    old = time.time() - 3600
    os.utime(idle, (old, old))
    busy = storage.tmp_dir / "busy.part"  # another process is writing this one right now
    busy.write_bytes(b"in flight")
    assert storage.clean_temporary() == 1
    assert not idle.exists() and busy.exists()
