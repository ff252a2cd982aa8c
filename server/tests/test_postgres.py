"""The same server on PostgreSQL: migrations, uploads, dedup, filters, idempotency, quota."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from scopix import QuotaExceededError, Scopix, UploadResult
from scopix_server import Settings
from server_support import (
    ELF,
    GIF_1X1,
    LiveServer,
    make_key,
    png_bytes,
    start_postgres,
    start_server,
)

pytestmark = [pytest.mark.services, pytest.mark.anyio]


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("pg")
    try:
        postgres = start_postgres()
    except RuntimeError as error:
        pytest.fail(str(error))
    settings = Settings(
        data_dir=workdir / "data", database_url=postgres.url, rate_limit_period_seconds=1
    )
    server = start_server(settings)
    try:
        yield server
    finally:
        server.stop()
        postgres.stop()


def test_database_is_postgres(pg_server: LiveServer) -> None:
    assert pg_server.settings.resolved_database_url.startswith("postgresql+asyncpg://")
    assert not (pg_server.settings.data_dir / "scopix.db").exists()
    with httpx.Client() as client:
        assert client.get(f"{pg_server.root_url}/ready").json()["checks"]["database"] == "ok"


def test_files_flow(pg_server: LiveServer) -> None:
    key = make_key(pg_server.settings)
    with httpx.Client(
        base_url=pg_server.base_url, headers={"Authorization": f"Bearer {key}"}
    ) as api:
        cat = api.post(
            "/files/upload",
            files={"file": ("cat_100%.png", png_bytes(3, 3))},
            data={"title": "Cat", "tags": "pet,cute"},
        ).json()
        dog = api.post(
            "/files/upload", files={"file": ("dog.png", png_bytes(4, 4))}, data={"tags": "pet"}
        ).json()
        skipped = api.post(
            "/files/upload",
            files={"file": ("again.png", png_bytes(3, 3))},
            data={"skip_duplicates": "true"},
        ).json()
        assert skipped["skipped"] is True
        assert skipped["skipped_existing_image_id"] == cat["image_id"]

        def ids(**params: str) -> list[str]:
            return [i["id"] for i in api.get("/files", params=params).json()["items"]]

        assert set(ids(tags="pet")) == {cat["image_id"], dog["image_id"]}
        assert ids(tags="pet,cute") == [cat["image_id"]]
        assert ids(search="100%") == [cat["image_id"]]
        assert ids(sort_by="title", sort_order="asc") == [cat["image_id"], dog["image_id"]]
        assert api.post("/files/upload", files={"file": ("x", ELF)}).status_code == 415
        assert api.patch(f"/files/{dog['image_id']}", json={"tags": ["a"]}).json()["tags"] == ["a"]
        batch = api.post(
            "/files/upload/batch", files=[("files", ("g.gif", GIF_1X1)), ("files", ("e", ELF))]
        ).json()
        assert (batch["accepted_files"], batch["rejected_files"]) == (1, 1)
        progress = api.get(batch["status_url"].removeprefix("/api/v2")).json()
        assert progress["failed_files"] == 1 and progress["total_files"] == 2
        assert api.delete(f"/files/{cat['image_id']}").status_code == 200
        assert api.get(f"/files/{cat['image_id']}").status_code == 404


async def test_idempotency_and_quota_with_the_sdk(pg_server: LiveServer) -> None:
    key = make_key(pg_server.settings, tier="free")
    async with Scopix(key, base_url=pg_server.base_url, max_retries=10, retry_delay=0.2) as client:
        data = png_bytes(5, 5, (3, 3, 3))
        first = await client.request(
            "POST", "/files/upload", files={"file": ("i.png", data)}, idempotency_key="k-1"
        )
        again = await client.request(
            "POST", "/files/upload", files={"file": ("i.png", data)}, idempotency_key="k-1"
        )
        assert first.json() == again.json()
        result = UploadResult.from_api_response(first.json())
        assert result.media_type == "image"
        for i in range(8):  # 9 of the free tier's 10 monthly uploads are now used...
            await client.request(
                "POST", "/files/upload", files={"file": (f"{i}.png", png_bytes(2, 2, (i, 1, 1)))}
            )
        with pytest.raises(QuotaExceededError) as over:  # ...so a batch of 2 is refused whole
            await client.request(
                "POST",
                "/files/upload/batch",
                files=[("files", ("a.gif", GIF_1X1)), ("files", ("b.gif", GIF_1X1))],
            )
    assert (over.value.available, over.value.requested) == (1, 2)
