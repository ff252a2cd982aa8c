"""``client.files`` and ``client.images`` of the real SDK against the real server (a socket)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from media_support import encode, text_image, text_pdf
from scopix import (
    ClientConfig,
    DescriptionStatus,
    ProcessingStatus,
    ResourceNotFoundError,
    Scopix,
    ScopixTimeoutError,
    SyncScopix,
    UploadProgressEvent,
    UserFileDetails,
    ValidationError,
)
from scopix_server import Settings
from server_support import ELF, LiveServer, make_key, png_bytes, start_server

pytestmark = [pytest.mark.anyio, pytest.mark.socket]

SIGN = encode(text_image([("HELLO SDK", 80, 120)], size=(700, 300))[0], "PNG")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(Settings(data_dir=Path(tmp_path_factory.mktemp("sdk-files")), workers=1))
    yield live
    live.stop()


def config(live: LiveServer, **options: object) -> ClientConfig:
    options.setdefault("polling_interval", 0.1)
    return ClientConfig(api_key=make_key(live.settings), base_url=live.base_url, **options)


async def test_upload_wait_read_and_list(server: LiveServer, tmp_path: Path) -> None:
    path = tmp_path / "sign.png"
    path.write_bytes(SIGN)
    async with Scopix.from_config(config(server)) as client:
        stored = await client.files.upload(path, title="A sign", tags=["street", "sign"])
        assert stored.filename == "sign.png" and stored.status == "processing"
        assert stored.description_status is DescriptionStatus.QUEUED  # returned once stored
        status = await client.files.wait_for_description(stored.file_id)
        assert isinstance(status, ProcessingStatus) and status.is_terminal
        assert status.description_status is DescriptionStatus.COMPLETED
        details = await client.files.get(stored.file_id)
        assert isinstance(details, UserFileDetails)
        assert details.title == "A sign" and details.user_tags == ["street", "sign"]
        assert "HELLO" in (details.visible_text or "") and details.description
        assert details.dimensions == {"width": 700, "height": 300}
        assert details.analysis_level == "local" and details.thumbnail_url
        found = await client.files.list(search="hello", search_mode="visible_text")
        assert [item.id for item in found.items] == [stored.file_id]
        tagged = await client.files.list(search="street", search_mode="metadata")
        assert [item.id for item in tagged.items] == [stored.file_id]
        assert (await client.files.list(search="street", search_mode="visible_text")).items == []
        quota = await client.files.check_quota(3)
        assert quota.can_proceed and quota.requested == 3


async def test_upload_waits_when_asked_and_takes_bytes_and_file_objects(
    server: LiveServer,
) -> None:
    async with Scopix.from_config(config(server)) as client:
        described = await client.files.upload(SIGN, filename="bytes.png", wait=True)
        assert described.is_completed and "HELLO" in (described.visible_text or "")
        assert described.filename == "bytes.png" and described.description
        progress: list[UploadProgressEvent] = []
        handle = io.BytesIO(png_bytes(32, 32))
        handle.name = "/somewhere/handle.png"
        from_handle = await client.files.upload(handle, on_progress=progress.append)
        assert from_handle.filename == "handle.png"
        size = len(handle.getvalue())
        assert progress and (progress[-1].uploaded_bytes, progress[-1].total_bytes) == (size, size)
        assert progress[-1].progress_percent == 100.0 and progress[-1].filename == "handle.png"
        assert not handle.closed  # the caller's file stays open


async def test_list_all_walks_every_page(server: LiveServer) -> None:
    async with Scopix.from_config(config(server)) as client:
        ids = [
            (await client.files.upload(png_bytes(4, 4, (n, 0, 0)), filename=f"{n}.png")).file_id
            for n in range(5)
        ]
        walked = [f.id async for f in client.files.list_all(page_size=2, sort_order="asc")]
        assert walked == ids


async def test_bad_input_is_refused_before_or_by_the_server(
    server: LiveServer, tmp_path: Path
) -> None:
    async with Scopix.from_config(config(server)) as client:
        with pytest.raises(FileNotFoundError, match="no file at"):
            await client.files.upload(tmp_path / "missing.png")
        with pytest.raises(IsADirectoryError, match="upload_batch"):
            await client.images.analyze(tmp_path)
        (tmp_path / "notes.txt").write_text("hello")
        with (tmp_path / "notes.txt").open() as text_mode, pytest.raises(TypeError, match="rb"):
            await client.files.upload(text_mode)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="list of strings"):
            await client.files.upload(SIGN, tags="a,b")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="search_mode"):
            await client.files.list(search_mode="fuzzy")
        with pytest.raises(ValidationError) as refused:
            await client.files.upload(ELF, filename="tool")
        assert refused.value.status_code == 415


async def test_a_wait_that_runs_out_says_where_it_stood(live: LiveServer) -> None:
    # the shared server has no workers: nothing is ever processed
    async with Scopix.from_config(config(live, polling_timeout=0.3)) as client:
        stored = await client.files.upload(png_bytes(8, 8), filename="never.png")
        with pytest.raises(ScopixTimeoutError) as caught:
            await client.files.wait_for_description(stored.file_id)
        assert isinstance(caught.value.last_result, ProcessingStatus)
        assert caught.value.last_result.description_status is DescriptionStatus.QUEUED
        with pytest.raises(ScopixTimeoutError) as analyzing:
            await client.images.analyze(SIGN, filename="late.png", timeout=0.2)
        assert isinstance(analyzing.value.last_result, UserFileDetails)


async def test_analyze_returns_the_description(server: LiveServer) -> None:
    async with Scopix.from_config(config(server)) as client:
        result = await client.images.analyze(SIGN, filename="sign.png", content_category="auto")
        assert "HELLO" in (result.visible_text or "") and result.description
        assert result.analysis_level == "local" and result.provider_count == 1
        assert result.text_regions and result.processing_time_ms > 0
        assert result.metadata is not None and result.metadata["filename"] == "sign.png"
        with pytest.raises(ValueError, match="exactly one"):
            await client.images.analyze()
        with pytest.raises(ValidationError):
            await client.images.analyze(url="ftp://example.com/a.png")


def test_the_blocking_client_has_the_same_methods(server: LiveServer) -> None:
    with SyncScopix.from_config(config(server)) as client:
        stored = client.files.upload(SIGN, filename="sync.png", wait=True)
        assert stored.is_completed
        assert client.files.get(stored.file_id).filename == "sync.png"
        assert [f.id for f in client.files.list_all(page_size=1)] == [stored.file_id]
        assert client.images.analyze(SIGN, filename="again.png").description
        assert client.files.upload.__doc__ and "Upload one file" in client.files.upload.__doc__


@pytest.mark.embedded  # (reads the storage folder or SQLite itself)
async def test_documents_variants_and_describing_again(server: LiveServer) -> None:
    async with Scopix.from_config(config(server)) as client:
        pdf = await client.files.upload(
            text_pdf([["Minutes of the board"], ["Second page notes"]]), filename="m.pdf"
        )
        await client.files.wait_for_description(pdf.file_id)
        assert "Minutes of the board" in await client.files.get_text(pdf.file_id)
        chunks = await client.files.get_chunks(pdf.file_id)
        assert chunks and chunks[0].index == 0 and chunks[-1].page_numbers[-1] == 2
        image = await client.files.upload(SIGN, filename="s.png", wait=True)
        url = await client.files.get_variant(image.file_id, "small_256")
        assert "/storage/objects/" in url
        with pytest.raises(ValidationError, match="documents only"):
            await client.files.get_text(image.file_id)
        with pytest.raises(ValueError, match="variant_type"):
            await client.files.get_variant(image.file_id, "huge")
        again = await client.files.describe(image.file_id)
        assert again.description_status is DescriptionStatus.QUEUED
        done = await client.files.wait_for_description(image.file_id)
        assert done.description_status is DescriptionStatus.COMPLETED
        unprocessed = await client.files.upload(png_bytes(6, 6), filename="n.png")
        try:
            await client.files.get_variant(unprocessed.file_id, "tiny_64")
        except ResourceNotFoundError as error:  # not made yet: the message says why
            assert "still being processed" in error.message


async def test_change_download_and_delete(server: LiveServer, tmp_path: Path) -> None:
    data = png_bytes(12, 12, (0, 128, 255))
    async with Scopix.from_config(config(server)) as client:
        stored = await client.files.upload(data, filename="blue.png")
        changed = await client.files.update(stored.file_id, title="Blue", tags=["sky"])
        assert changed.title == "Blue" and changed.tags == ["sky"] and changed.updated_at
        with pytest.raises(ValueError, match="title, tags"):
            await client.files.update(stored.file_id)
        assert await client.files.download(stored.file_id) == data
        target = tmp_path / "out" / "blue.png"
        target.parent.mkdir()
        assert await client.files.download(stored.file_id, target) == target
        assert target.read_bytes() == data and list(target.parent.iterdir()) == [target]
        other = await client.files.upload(png_bytes(5, 5), filename="other.png")
        deleted = await client.files.delete(stored.file_id)
        assert deleted.id == stored.file_id and deleted.deleted_at
        with pytest.raises(ResourceNotFoundError):
            await client.files.get(stored.file_id)
        report = await client.files.batch_delete(
            [other.file_id, stored.file_id, "00000000-0000-0000-0000-000000000000"]
        )
        assert [d.id for d in report.deleted] == [other.file_id]
        assert [s.id for s in report.skipped] == [stored.file_id]
        assert report.failed[0].message == "not found"
        assert report.summary == {"total": 3, "deleted": 1, "skipped": 1, "failed": 1}
