"""``files.upload_batch`` (and ``upload`` of a list or a directory) against the real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scopix import (
    BatchUploadResults,
    ClientConfig,
    DescriptionStatus,
    FileCompleteEvent,
    Scopix,
    SyncScopix,
    UploadProgressEvent,
)
from scopix_server import Settings
from server_support import LiveServer, make_key, png_bytes, start_server

pytestmark = [pytest.mark.anyio, pytest.mark.socket]

COPIES = {110: 10, 150: 50, 199: 99}  # copy: original
CORRUPT = png_bytes(8, 8)[:40] + b"this is not the rest of a PNG" * 10


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(
        Settings(
            data_dir=Path(tmp_path_factory.mktemp("sdk-batch")),
            workers=2,
            ocr_enabled=False,  # (200 tiny images: the batch path is under test, not OCR)
            job_poll_seconds=0.05,
        )
    )
    yield live
    live.stop()


def config(live: LiveServer, tier: str | None = None, **options: object) -> ClientConfig:
    options.setdefault("polling_interval", 0.1)
    key = make_key(live.settings, tier=tier)
    return ClientConfig(api_key=key, base_url=live.base_url, **options)


def library(folder: Path) -> list[str]:
    """200 images: 192 distinct, 5 corrupt, 3 copies of earlier ones; plus files to leave out."""
    folder.mkdir()
    names = []
    for n in range(200):
        name = f"img-{n:03d}.png"
        if n in (20, 60, 100, 140, 180):
            data = CORRUPT + bytes([n])
        elif n in COPIES:
            data = (folder / f"img-{COPIES[n]:03d}.png").read_bytes()
        else:
            data = png_bytes(16, 16, (n, 255 - n, (n * 7) % 256))
        (folder / name).write_bytes(data)
        names.append(name)
    (folder / "notes.xyz").write_text("not a supported file")
    (folder / ".hidden.png").write_bytes(png_bytes(4, 4))
    return names


async def test_a_directory_with_broken_files_and_duplicates(
    server: LiveServer, tmp_path: Path
) -> None:
    names = library(tmp_path / "photos")
    completed: list[FileCompleteEvent] = []
    progress: list[UploadProgressEvent] = []
    # 100 files per request (a tenant without limits): the copies would travel in the other
    # request than their originals, at the same time
    async with Scopix.from_config(config(server)) as client:
        results = await client.files.upload_batch(
            tmp_path / "photos",
            skip_duplicates=True,
            wait=True,
            on_file_complete=completed.append,
            on_progress=progress.append,
        )
    assert isinstance(results, BatchUploadResults)
    assert [r.filename for r in results] == names  # input order
    assert results.summary() == "192 succeeded, 5 failed, 3 skipped"
    assert (results.succeeded_count, results.failed_count, results.skipped_count) == (192, 5, 3)
    for failure in results.failed():
        assert failure.description_error_type == "validation", failure
        assert failure.description_is_retryable is False and failure.description_error
    assert {r.filename for r in results.failed()} == {
        f"img-{n:03d}.png" for n in (20, 60, 100, 140, 180)
    }
    for skipped in results.skipped():
        original = results[COPIES[names.index(skipped.filename)]]
        assert skipped.image_id == original.image_id  # points at the stored twin
    described = results.succeeded()[0]
    assert described.description_status is DescriptionStatus.COMPLETED and described.description
    assert results.ignored == [str(tmp_path / "photos" / "notes.xyz")]  # reported, not sent
    assert sorted(event.file_index for event in completed) == list(range(200))
    assert {event.file_index for event in progress} == set(range(200)) - set(COPIES)


async def test_upload_of_a_list_is_a_batch_and_a_refused_file_stays_in_its_place(
    server: LiveServer, tmp_path: Path
) -> None:
    good = tmp_path / "good.png"
    good.write_bytes(png_bytes(8, 8))
    async with Scopix.from_config(config(server)) as client:
        results = await client.files.upload(
            [good, b"\x7fELF\x02\x01\x01\x00" + b"\0" * 56, png_bytes(9, 9)]
        )
    assert isinstance(results, BatchUploadResults) and len(results) == 3
    assert results[0].filename == "good.png" and results[0].image_id
    refused = results[1]
    assert (
        refused.is_failed and refused.image_id == "" and refused.description_is_retryable is False
    )
    assert "refused" in (refused.description_error or "")
    assert results[2].image_id and results.pending_count == 2  # not waited for


def test_the_blocking_client_uploads_batches_too(server: LiveServer, tmp_path: Path) -> None:
    folder = tmp_path / "few"
    folder.mkdir()
    for n in range(3):
        (folder / f"{n}.png").write_bytes(png_bytes(6, 6, (n, n, n)))
    with SyncScopix.from_config(config(server)) as client:
        results = client.files.upload_batch(folder, wait=True)
    assert results.summary() == "3 succeeded, 0 failed"


async def test_a_batch_cut_by_a_server_restart_is_finished_by_running_it_again(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    for n in range(250):
        (folder / f"{n:03d}.png").write_bytes(png_bytes(24, 24, (n, 3, 200)))
    settings = Settings(data_dir=tmp_path / "data", workers=0)
    live = start_server(settings)
    key = make_key(settings)
    stopped = False

    def stop_after_the_first_request(event: FileCompleteEvent) -> None:
        nonlocal stopped
        if event.file_index == 99 and not stopped:
            stopped = True
            live.stop()  # the next requests meet a closed port

    first_config = ClientConfig(
        api_key=key, base_url=live.base_url, max_retries=1, retry_delay=0.05
    )
    async with Scopix.from_config(first_config) as client:
        first = await client.files.upload_batch(
            folder, concurrency=1, on_file_complete=stop_after_the_first_request
        )
    assert len(first) == 250 and stopped
    assert first.failed_count == 150 and len(first.retryable()) == 150  # nothing lost silently
    assert all(r.image_id for r in first[:100])
    live = start_server(settings)  # the same data, a new port
    try:
        async with Scopix.from_config(ClientConfig(api_key=key, base_url=live.base_url)) as client:
            second = await client.files.upload_batch(folder, skip_duplicates=True)
            stored = await client.files.list(limit=1)
    finally:
        live.stop()
    assert second.failed_count == 0 and second.skipped_count == 100
    assert [r.image_id for r in second[:100]] == [r.image_id for r in first[:100]]
    assert stored.total_count == 250  # every file once, none twice
