"""The server on S3 storage: a real S3 server (``rclone serve s3``, SigV4 enforced)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from media_support import encode, text_image
from scopix import ClientConfig, Scopix
from scopix_server import Settings
from scopix_server.db.models import utcnow
from scopix_server.storage import open_storage
from server_support import LiveServer, S3Server, make_key, purge_at, start_s3, start_server

pytestmark = [pytest.mark.anyio, pytest.mark.socket]

SIGN = encode(text_image([("BUCKET", 60, 60)], size=(500, 250))[0], "PNG")


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_s3(Path(tmp_path_factory.mktemp("s3")), "scopix")
    yield server
    server.stop()


def s3_settings(data_dir: Path, s3: S3Server, **changes: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "storage_url": "s3://scopix/library",
        "s3_endpoint_url": s3.endpoint,
        "s3_access_key_id": s3.access_key,
        "s3_secret_access_key": s3.secret_key,
        "workers": 1,
        "job_poll_seconds": 0.05,
    }
    return Settings(**(values | changes))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, s3: S3Server) -> Iterator[LiveServer]:
    live = start_server(s3_settings(Path(tmp_path_factory.mktemp("s3-server")), s3))
    yield live
    live.stop()


async def test_upload_process_download_through_the_bucket(server: LiveServer, s3: S3Server) -> None:
    config = ClientConfig(
        api_key=make_key(server.settings), base_url=server.base_url, polling_interval=0.1
    )
    async with Scopix.from_config(config) as client:
        stored = await client.files.upload(SIGN, filename="sign.png", wait=True)
        assert stored.is_completed and "BUCKET" in (stored.visible_text or "")  # read back
        again = await client.files.upload(SIGN, filename="again.png", wait=True)
        details = await client.files.get(stored.file_id)
        assert await client.files.download(stored.file_id) == SIGN  # streamed from the bucket
        original = await client.files.get_variant(stored.file_id, "original")
    keys = [p.relative_to(s3.root / "scopix").as_posix() for p in s3.objects("scopix")]
    originals = [k for k in keys if not k.startswith("library/derived/")]
    assert len(originals) == 1 and originals[0].startswith("library/")  # one object, shared
    assert again.image_id != stored.image_id
    assert sum(k.startswith("library/derived/") for k in keys) >= 4  # the variants
    # the URLs are SigV4 presigned: the bytes come from the bucket, not the server
    assert original.startswith(s3.endpoint) and "X-Amz-Signature=" in original
    assert httpx.get(original).content == SIGN
    thumbnail = httpx.get(details.thumbnail_url or "")
    assert thumbnail.status_code == 200 and thumbnail.content[:4] == b"RIFF"
    tampered = original.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert httpx.get(tampered).status_code == 403
    assert list((server.settings.data_dir / "s3-spool" / "tmp").iterdir()) == []
    assert httpx.get(f"{server.root_url}/ready").status_code == 200


async def test_purge_removes_objects_from_the_bucket(server: LiveServer, s3: S3Server) -> None:
    config = ClientConfig(api_key=make_key(server.settings), base_url=server.base_url)
    data = encode(text_image([("GONE", 40, 40)], size=(300, 160))[0], "PNG")
    async with Scopix.from_config(config) as client:
        stored = await client.files.upload(data, filename="gone.png", wait=True)
        await client.files.delete(stored.file_id)
    before = len(s3.objects("scopix"))

    removed = purge_at(server.settings, utcnow() + timedelta(days=31)).objects
    assert removed == 1  # the original...
    assert len(s3.objects("scopix")) <= before - 5  # ...and its variants went with it


def test_wrong_credentials_make_the_server_unready(tmp_path: Path, s3: S3Server) -> None:
    live = start_server(s3_settings(tmp_path, s3, s3_secret_access_key="not-the-secret"))
    try:
        ready = httpx.get(f"{live.root_url}/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"database": "ok", "storage": "error: OSError"}
    finally:
        live.stop()


def test_storage_urls_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="names no bucket"):
        open_storage("s3:///prefix", Settings(data_dir=tmp_path))
    with pytest.raises(ValueError, match="file:///path or s3://bucket/prefix"):
        open_storage("ftp://host/x", Settings(data_dir=tmp_path))
