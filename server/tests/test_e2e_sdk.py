"""The real SDK against the real server over a socket: uploads, dedup, errors, quota, limits."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from scopix import (
    AuthenticationError,
    ClientConfig,
    DescriptionStatus,
    QuotaExceededError,
    QuotaInfo,
    RateLimitError,
    ResourceNotFoundError,
    Scopix,
    ScopixPermissionError,
    SyncScopix,
    UploadResult,
    ValidationError,
)
from scopix_server import Settings
from server_support import (
    ELF,
    GIF_1X1,
    LiveServer,
    make_key,
    png_bytes,
    start_server,
    wait_until_terminal,
)

pytestmark = pytest.mark.anyio


def client(live: LiveServer, key: str, **options: object) -> Scopix:
    return Scopix.from_config(ClientConfig(api_key=key, base_url=live.base_url, **options))


async def upload(c: Scopix, data: bytes, name: str = "a.png", **fields: str) -> UploadResult:
    response = await c.request("POST", "/files/upload", files={"file": (name, data)}, data=fields)
    assert response.status_code == 201
    return UploadResult.from_api_response(response.json())


async def test_upload_then_read_back(live: LiveServer, key: str) -> None:
    data = png_bytes(8, 8)
    async with client(live, key) as c:
        result = await upload(c, data, "red.png", title="Red square", tags="red, square")
        assert result.filename == "red.png"
        assert result.media_type == "image" and result.status == "processing"
        assert result.description_status is DescriptionStatus.QUEUED  # its job is committed
        details = (await c.request("GET", f"/files/{result.file_id}")).json()
        assert details["title"] == "Red square" and details["user_tags"] == ["red", "square"]
        assert details["tags"][:2] == ["red", "square"]  # the description's tags come after
        assert details["content_type"] == "image/png" and details["size_bytes"] == len(data)
        downloaded = await c.request("GET", f"/files/{result.file_id}/download")
        assert downloaded.content == data
        assert 'filename="red.png"' in downloaded.headers["content-disposition"]
        status = (await c.request("GET", f"/files/{result.file_id}/status")).json()
        assert status["is_terminal"] is False and status["description_status"] == "queued"


async def test_upload_then_processed(tmp_path: Path) -> None:
    server = start_server(Settings(data_dir=tmp_path, workers=1))
    try:
        async with client(server, make_key(server.settings)) as c:
            result = await upload(c, png_bytes(300, 200, (0, 90, 200)), "blue.png", tags="mine")
            status = await wait_until_terminal(c, result.file_id)
            details = (await c.request("GET", f"/files/{result.file_id}")).json()
    finally:
        server.stop()
    assert status["status"] == "completed" and status["description_status"] == "completed"
    assert status["variant_status"] == "completed" and status["is_terminal"] is True
    assert details["tags"][0] == "mine" and details["analysis_level"] == "local"
    # a flat blue square: the models recognise nothing in it, and the description says so
    assert "nothing was recognised" in details["description"] and details["thumbnail_url"]


async def test_auto_describe_off_is_skipped(live: LiveServer, key: str) -> None:
    async with client(live, key) as c:
        result = await upload(c, GIF_1X1, "dot.gif", auto_describe="false")
    assert result.description_status is DescriptionStatus.SKIPPED
    assert result.media_type == "image"


async def test_duplicates_are_skipped_only_when_asked(live: LiveServer, key: str) -> None:
    data = png_bytes(5, 5, (0, 0, 255))
    async with client(live, key) as c:
        first = await upload(c, data)
        again = await upload(c, data)  # skip_duplicates defaults to false: stored again
        skipped = await upload(c, data, skip_duplicates="true")
        listed = (await c.request("GET", "/files")).json()
    assert again.image_id != first.image_id
    assert skipped.status == "skipped" and skipped.description_status is DescriptionStatus.SKIPPED
    assert skipped.image_id == first.image_id
    assert listed["total_count"] == 2  # the skipped upload stored nothing


async def test_errors_arrive_as_sdk_exceptions(live: LiveServer, key: str) -> None:
    async with client(live, key, max_retries=0) as c:
        with pytest.raises(ResourceNotFoundError) as missing:
            await c.request("GET", f"/files/{uuid.uuid4()}")
        assert missing.value.resource_type == "file" and missing.value.request_id
        with pytest.raises(ValidationError) as refused:
            await c.request("POST", "/files/upload", files={"file": ("photo.jpg", ELF)})
        assert refused.value.status_code == 415
        assert refused.value.code == "UNSUPPORTED_MEDIA_TYPE"
        assert "ELF executable" in refused.value.message
    bad_key = "scopix_Zz99Zz99_" + "x" * 43
    async with client(live, bad_key) as c:
        with pytest.raises(AuthenticationError, match="invalid, revoked or expired"):
            await c.request("GET", "/files")


async def test_tenant_header_must_match_the_key(live: LiveServer, key: str) -> None:
    async with client(live, key, tenant_id="someone-else") as c:
        with pytest.raises(ScopixPermissionError, match="X-Tenant-ID"):
            await c.request("GET", "/files")


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory):
    """A server whose per-minute limits apply per second, for tests that send many requests."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("quick"), rate_limit_period_seconds=1)
    server = start_server(settings)
    yield server
    server.stop()


async def test_quota_check_and_enforcement(quick: LiveServer) -> None:
    key = make_key(quick.settings, tier="free")  # 10 uploads a month, 10 requests a "minute"
    async with client(quick, key, max_retries=10, retry_delay=0.2) as c:
        quota = QuotaInfo.from_api_response(
            (await c.request("GET", "/uploads/quota-check", params={"file_count": 3})).json()
        )
        assert (quota.can_proceed, quota.available, quota.monthly_limit) == (True, 10, 10)
        assert quota.max_batch_size == 10 and quota.max_concurrent_uploads == 10
        for i in range(10):
            await upload(c, png_bytes(2, 2, (i, i, i)))
        with pytest.raises(QuotaExceededError) as over:
            await upload(c, png_bytes(3, 3))
        assert (over.value.available, over.value.limit, over.value.requested) == (0, 10, 1)
        after = (await c.request("GET", "/uploads/quota-check", params={"file_count": 1})).json()
        assert after["current_usage"] == 10 and after["can_proceed"] is False


async def test_refused_uploads_do_not_count(quick: LiveServer) -> None:
    key = make_key(quick.settings, tier="free")
    async with client(quick, key, max_retries=0) as c:
        with pytest.raises(ValidationError):
            await c.request("POST", "/files/upload", files={"file": ("x.bin", ELF)})
        usage = (await c.request("GET", "/uploads/quota-check", params={"file_count": 1})).json()
    assert usage["current_usage"] == 0


async def test_rate_limit_then_success_after_retry_after(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, rate_limit_period_seconds=3)
    server = start_server(settings)
    try:
        key = make_key(settings, tier="free")  # 10 requests per (2 s) window
        async with client(server, key, max_retries=0) as strict:
            for _ in range(10):
                await strict.request("GET", "/files")
            with pytest.raises(RateLimitError) as limited:
                await strict.request("GET", "/files")
        assert 1 <= limited.value.retry_after <= 4
        assert limited.value.limit == 10 and limited.value.remaining == 0
        async with client(server, key, max_retries=2) as patient:  # honours Retry-After
            response = await patient.request("GET", "/files")
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "10"
    finally:
        server.stop()


def test_sync_client_against_the_server(live: LiveServer, key: str) -> None:
    with SyncScopix(key, base_url=live.base_url) as c:
        created = c.request("POST", "/files/upload", files={"file": ("g.gif", GIF_1X1)})
        listed = c.request("GET", "/files").json()
    assert created.status_code == 201
    assert [item["id"] for item in listed["items"]] == [created.json()["image_id"]]


async def test_idempotent_retry_stores_once(live: LiveServer, key: str) -> None:
    data = png_bytes(6, 6, (1, 2, 3))
    async with client(live, key) as c:
        first = await c.request(
            "POST", "/files/upload", files={"file": ("i.png", data)}, idempotency_key="upload-1"
        )
        replay = await c.request(
            "POST", "/files/upload", files={"file": ("i.png", data)}, idempotency_key="upload-1"
        )
        assert replay.json() == first.json()
        with pytest.raises(Exception) as conflict:
            await c.request(
                "POST",
                "/files/upload",
                files={"file": ("i.png", png_bytes(7, 7))},
                idempotency_key="upload-1",
            )
        listed = (await c.request("GET", "/files")).json()
    assert getattr(conflict.value, "status_code", None) == 409
    assert listed["total_count"] == 1


async def test_response_headers(live: LiveServer, key: str) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as raw:
        response = await raw.get(
            "/files", headers={"Authorization": f"Bearer {key}", "X-Request-ID": "abc-123"}
        )
    assert response.headers["X-Request-ID"] == "abc-123"
    for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert name in response.headers
