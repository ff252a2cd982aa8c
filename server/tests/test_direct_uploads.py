"""Direct uploads on local storage: one PUT or parts through signed URLs, checked at complete."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from scopix import ClientConfig, Scopix, TransferConfig, UploadProgressEvent, UploadResult
from scopix_server import Settings
from scopix_server.db.models import DirectUpload, utcnow
from scopix_server.db.session import create_engine, create_sessionmaker
from server_support import (
    LiveServer,
    make_key,
    png_bytes,
    purge_at,
    start_server,
    stored_objects,
)

pytestmark = pytest.mark.socket

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(
        Settings(
            data_dir=Path(tmp_path_factory.mktemp("direct")),
            workers=0,
            direct_upload_part_bytes=5 * MiB,
            direct_upload_multipart_bytes=8 * MiB,
        )
    )
    yield live
    live.stop()


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    key = make_key(server.settings)
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        yield client


def start(api: httpx.Client, data: bytes, **fields: Any) -> dict[str, Any]:
    body = {"filename": "big.png", "size_bytes": len(data), **fields}
    response = api.post("/files/direct-uploads", json=body)
    assert response.status_code == 201, response.text
    started: dict[str, Any] = response.json()
    return started


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def big_png(size: int) -> bytes:
    head = png_bytes(8, 8)
    return head + os.urandom(size - len(head))  # (stored, not decoded: no workers)


def test_a_single_put(api: httpx.Client) -> None:
    data = big_png(3 * MiB)
    started = start(api, data, content_hash=sha(data), title="Big")
    assert started["method"] == "single" and started["deduplicated"] is False
    put = httpx.put(started["upload_url"], content=data)
    assert (
        put.status_code == 200 and put.headers["etag"].strip('"') == hashlib.md5(data).hexdigest()
    )
    done = api.post(f"/files/direct-uploads/{started['upload_id']}/complete", json={})
    assert done.status_code == 200, done.text
    record = done.json()
    assert record["image_id"] == started["image_id"] and record["deduplicated"] is False
    assert record["size_bytes"] == len(data) and record["content_hash"] == sha(data)
    assert api.get(f"/files/{record['image_id']}/download").content == data
    again = api.post(f"/files/direct-uploads/{started['upload_id']}/complete", json={})
    assert again.status_code == 200 and again.json()["image_id"] == record["image_id"]
    status = api.get(f"/files/direct-uploads/{started['upload_id']}").json()
    assert status["state"] == "completed"


@pytest.mark.embedded  # (reads the storage folder or SQLite itself)
def test_parts_in_parallel_and_resume(api: httpx.Client) -> None:
    data = big_png(12 * MiB + 123)
    started = start(api, data, content_hash=sha(data))
    assert started["method"] == "multipart" and started["part_size"] == 5 * MiB
    parts = started["parts"]
    assert [p["part_number"] for p in parts] == [1, 2, 3]
    chunks = [data[i : i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
    first = httpx.put(parts[0]["upload_url"], content=chunks[0])  # then the client "crashes"
    assert first.status_code == 200
    status = api.get(f"/files/direct-uploads/{started['upload_id']}").json()
    assert status["received_parts"] == [1] and status["state"] == "pending"
    with ThreadPoolExecutor(2) as pool:  # resume: only the missing parts
        answers = list(
            pool.map(lambda n: httpx.put(parts[n - 1]["upload_url"], content=chunks[n - 1]), [2, 3])
        )
    etags = [first.json()["etag"]] + [a.json()["etag"] for a in answers]
    done = api.post(
        f"/files/direct-uploads/{started['upload_id']}/complete",
        json={"parts": [{"part_number": n, "etag": e} for n, e in enumerate(etags, 1)]},
    )
    assert done.status_code == 200, done.text
    assert api.get(f"/files/{done.json()['image_id']}/download").content == data


def test_a_wrong_hash_keeps_nothing(api: httpx.Client, server: LiveServer) -> None:
    data = big_png(2 * MiB)
    before = stored_objects(server.settings)
    started = start(api, data, content_hash="sha256:" + "0" * 64)
    httpx.put(started["upload_url"], content=data)
    done = api.post(f"/files/direct-uploads/{started['upload_id']}/complete", json={})
    assert done.status_code == 422 and "nothing was kept" in done.json()["error"]["message"]
    assert stored_objects(server.settings) == before
    assert api.get(f"/files/{started['image_id']}").status_code == 404
    status = api.get(f"/files/direct-uploads/{started['upload_id']}").json()
    assert status["state"] == "failed" and "hash" in status["error"]


@pytest.mark.embedded  # (reads the storage folder or SQLite itself)
def test_tampered_foreign_and_short_parts_are_refused(api: httpx.Client) -> None:
    data = big_png(1 * MiB)
    started = start(api, data)
    url = started["upload_url"]
    token = url.rsplit("/", 1)[1]
    forged = url[: -len(token)] + token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert httpx.put(forged, content=data).status_code == 403
    short = httpx.put(url, content=data[:-10])
    assert short.status_code == 400 and "must be" in short.json()["error"]["message"]
    long = httpx.put(url, content=data + b"extra")
    assert long.status_code == 413
    incomplete = api.post(f"/files/direct-uploads/{started['upload_id']}/complete", json={})
    assert (
        incomplete.status_code == 400
        and "have not arrived" in incomplete.json()["error"]["message"]
    )
    other = start(api, data)
    download_token = api.get(f"/files/{other['image_id']}")  # not a file yet
    assert download_token.status_code == 404
    aborted = api.delete(f"/files/direct-uploads/{other['upload_id']}")
    assert aborted.status_code == 200 and aborted.json()["state"] == "aborted"
    assert httpx.put(other["upload_url"], content=data).status_code == 409


@pytest.mark.embedded  # (parts come to this server only with local staging; S3 takes them there)
def test_a_part_still_arriving_when_the_upload_is_aborted_is_a_409(
    api: httpx.Client, server: LiveServer
) -> None:
    data = big_png(1 * MiB)
    started = start(api, data)
    url = httpx.URL(started["upload_url"])
    port = int(server.root_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(
            f"PUT {url.raw_path.decode()} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data[:1000]
        )
        time.sleep(0.3)  # (the part has begun to arrive)
        aborted = api.delete(f"/files/direct-uploads/{started['upload_id']}")
        assert aborted.status_code == 200, aborted.text
        connection.sendall(data[1000:])
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += connection.recv(65536)
    assert answer.startswith(b"HTTP/1.1 409"), answer[:200]
    assert b"ended" in answer


def test_duplicates_skip_the_transfer(api: httpx.Client) -> None:
    data = big_png(1 * MiB)
    first = start(api, data, content_hash=sha(data))
    httpx.put(first["upload_url"], content=data)
    stored = api.post(f"/files/direct-uploads/{first['upload_id']}/complete", json={}).json()
    again = start(api, data, content_hash=sha(data), skip_duplicates=True)
    assert again["deduplicated"] is True and again["image_id"] == stored["image_id"]
    assert "upload_url" not in again


@pytest.mark.embedded  # (reads the storage folder or SQLite itself)
def test_expired_urls_are_refused(tmp_path: Path) -> None:
    live = start_server(Settings(data_dir=tmp_path, workers=0, direct_upload_ttl_seconds=60))
    try:
        key = make_key(live.settings)
        with httpx.Client(
            base_url=live.base_url, headers={"Authorization": f"Bearer {key}"}
        ) as api:
            data = big_png(1 * MiB)
            started = start(api, data)
            real_time = time.time
            try:  # (the server runs in this process: move its clock past the expiry)
                time.time = lambda: real_time() + 120  # type: ignore[assignment]
                refused = httpx.put(started["upload_url"], content=data)
            finally:
                time.time = real_time  # type: ignore[assignment]
            assert refused.status_code == 403 and "expired" in refused.json()["error"]["message"]
    finally:
        live.stop()


def test_bad_requests(api: httpx.Client) -> None:
    assert (
        api.post("/files/direct-uploads", json={"filename": "x", "size_bytes": 0}).status_code
        == 422
    )
    bad_hash = api.post(
        "/files/direct-uploads", json={"filename": "x", "size_bytes": 5, "content_hash": "md5:1"}
    )
    assert bad_hash.status_code == 422 and "content_hash" in bad_hash.json()["error"]["message"]
    assert api.get("/files/direct-uploads/nope").status_code == 404
    assert api.put("/storage/uploads/not-a-token", content=b"1").status_code == 403


def test_refused_content_fails_the_upload(api: httpx.Client) -> None:
    data = b"\x7fELF\x02\x01\x01\x00" + bytes(1024)
    started = start(api, data)
    httpx.put(started["upload_url"], content=data)
    done = api.post(f"/files/direct-uploads/{started['upload_id']}/complete", json={})
    assert done.status_code == 415
    status = api.get(f"/files/direct-uploads/{started['upload_id']}").json()
    assert status["state"] == "failed" and "refused" in status["error"]
    again = api.post(f"/files/direct-uploads/{started['upload_id']}/complete", json={})
    assert again.status_code == 409


@pytest.mark.embedded  # (reads the storage folder or SQLite itself)
def test_the_purge_expires_abandoned_uploads(api: httpx.Client, server: LiveServer) -> None:
    data = big_png(9 * MiB)
    started = start(api, data)
    first = started["parts"][0]
    assert httpx.put(first["upload_url"], content=data[: 5 * MiB]).status_code == 200
    folder = server.settings.data_dir / "storage" / "tmp" / "direct" / started["upload_id"]
    assert folder.is_dir()

    assert purge_at(server.settings, utcnow() + timedelta(days=2)).expired_uploads >= 1
    assert not folder.exists()  # the abandoned part is gone
    status = api.get(f"/files/direct-uploads/{started['upload_id']}").json()
    assert status["state"] == "expired"
    late = api.post(f"/files/direct-uploads/{started['upload_id']}/complete", json={})
    assert late.status_code == 409 and "expired" in late.json()["error"]["message"]


class Interrupted(Exception):
    pass


@pytest.mark.embedded  # (reads the storage folder or SQLite itself)
def test_sdk_parts_through_the_server_interrupted_then_resumed(
    server: LiveServer, tmp_path: Path
) -> None:
    """The SDK on local storage: parts through the server's signed URLs, an interruption in
    the middle (the state file is kept), then ``upload()`` of the same path sends the rest."""
    path = tmp_path / "scan.png"
    data = big_png(23 * MiB)  # 5 parts of 5 MiB
    path.write_bytes(data)
    puts: list[str] = []

    async def count(request: httpx.Request) -> None:
        if request.method == "PUT":
            puts.append(str(request.url))

    def stop_at_half(event: UploadProgressEvent) -> None:
        if event.uploaded_bytes > event.total_bytes // 2:
            raise Interrupted

    key = make_key(server.settings)

    async def run() -> tuple[UploadResult, list[int], list[int]]:
        config = ClientConfig(api_key=key, base_url=server.base_url)
        transfer = TransferConfig(direct_threshold=MiB, state_dir=tmp_path / "state")
        http = httpx.AsyncClient(timeout=60, event_hooks={"request": [count]})
        async with http, Scopix.from_config(config, http_client=http) as client:
            with pytest.raises(Interrupted):  # (one part at a time: parts 1 and 2 arrive)
                await client.files.upload(
                    path, transfer=replace(transfer, concurrency=1), on_progress=stop_at_half
                )
            [state] = (tmp_path / "state").glob("*.json")
            upload_id = json.loads(state.read_text())["upload_id"]
            status = await client.request("GET", f"/files/direct-uploads/{upload_id}")
            received = status.json()["received_parts"]
            puts.clear()
            progress: list[int] = []
            result = await client.files.upload(
                path, transfer=transfer, on_progress=lambda e: progress.append(e.uploaded_bytes)
            )
        return result, received, progress

    result, received, progress = asyncio.run(run())
    assert received == [1, 2] and len(puts) == 3  # only the missing parts
    assert all("/api/v2/storage/uploads/" in url for url in puts)  # the server's signed URLs
    assert progress[-1] == len(data) and progress == sorted(progress)
    assert result.deduplicated is False and result.media_type == "image"
    assert result.status == "processing" and result.object_key
    assert list((tmp_path / "state").glob("*.json")) == []  # done: the state file is gone
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as api:
        record = api.get(f"/files/{result.file_id}").json()
    assert record["content_hash"] == sha(data)


def test_a_retried_start_is_the_same_upload(api: httpx.Client) -> None:
    body = {"filename": "big.png", "size_bytes": 6 * MiB}
    headers = {"Idempotency-Key": "start-once-1"}
    first = api.post("/files/direct-uploads", json=body, headers=headers)
    again = api.post("/files/direct-uploads", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["upload_id"] == first.json()["upload_id"]
    other = api.post("/files/direct-uploads", json={**body, "size_bytes": 7 * MiB}, headers=headers)
    assert other.status_code == 409  # the same key for another request


def test_one_complete_at_a_time_and_a_dead_one_is_taken_over(
    api: httpx.Client, server: LiveServer
) -> None:
    data = big_png(2 * MiB)
    started = start(api, data, content_hash=sha(data))
    assert httpx.put(started["upload_url"], content=data).status_code == 200

    def set_completing(minutes_ago: float) -> None:
        async def run() -> None:
            engine = create_engine(server.settings.resolved_database_url)
            try:
                async with create_sessionmaker(engine)() as session:
                    row = await session.get(DirectUpload, started["upload_id"])
                    assert row is not None
                    row.state = "completing"
                    row.updated_at = utcnow() - timedelta(minutes=minutes_ago)
                    await session.commit()
            finally:
                await engine.dispose()

        asyncio.run(run())

    url = f"/files/direct-uploads/{started['upload_id']}/complete"
    set_completing(0)  # another request is reading the parts
    busy = api.post(url, json={})
    assert busy.status_code == 409 and busy.headers["retry-after"] == "5"
    assert busy.json()["error"]["details"]["state"] == "completing"
    assert api.delete(f"/files/direct-uploads/{started['upload_id']}").status_code == 409
    set_completing(31)  # ...and died with its server half an hour ago: this one takes over
    done = api.post(url, json={})
    assert done.status_code == 200 and done.json()["content_hash"] == sha(data)
    assert api.post(url, json={}).json()["image_id"] == done.json()["image_id"]  # same answer


def test_a_quota_reached_meanwhile_keeps_the_upload_for_later(server: LiveServer) -> None:
    tenant = f"free-{os.getpid()}-{time.monotonic_ns()}"
    key = make_key(server.settings, tenant, tier="free")  # 10 uploads a month
    data = big_png(1 * MiB)
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as api:
        started = start(api, data)
        assert httpx.put(started["upload_url"], content=data).status_code == 200
        batch = [("files", (f"{n}.png", png_bytes(4 + n, 4))) for n in range(10)]
        assert api.post("/files/upload/batch", files=batch).status_code == 201  # the month's 10
        url = f"/files/direct-uploads/{started['upload_id']}/complete"
        refused = api.post(url, json={})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "QUOTA_EXCEEDED"
        status = api.get(f"/files/direct-uploads/{started['upload_id']}").json()
        assert status["state"] == "pending" and status["received_parts"] == [1]  # kept
        make_key(server.settings, tenant, tier="custom")  # (the tenant's plan is raised)
        done = api.post(url, json={})
        assert done.status_code == 200 and done.json()["content_hash"] == sha(data)


def test_the_options_travel_typed_to_the_recorded_file(
    api: httpx.Client, server: LiveServer
) -> None:
    data = big_png(1 * MiB)
    started = start(
        api,
        data,
        title="  Harbour, at dusk ",
        tags=["boats", "night sky", "boats"],
        auto_describe=False,
        content_category="product_photo",
    )
    kept = asyncio.run(_stored_options(server, started["upload_id"]))
    assert kept["tags"] == ["boats", "night sky"] and kept["auto_describe"] is False
    assert httpx.put(started["upload_url"], content=data).status_code == 200
    done = api.post(f"/files/direct-uploads/{started['upload_id']}/complete", json={})
    assert done.status_code == 200, done.text
    details = api.get(f"/files/{started['image_id']}").json()
    assert details["title"] == "Harbour, at dusk"
    assert details["tags"] == ["boats", "night sky"]  # (a list stays a list: no comma split)
    assert details["content_category"] == "product_photo"
    assert details["description_status"] == "skipped"
    refused = api.post(
        "/files/direct-uploads",
        json={"filename": "a.png", "size_bytes": 10, "tags": ["fish, chips"]},
    )
    assert refused.status_code == 422 and "comma" in refused.json()["error"]["message"]


async def _stored_options(server: LiveServer, upload_id: str) -> dict[str, Any]:
    engine = create_engine(server.settings.resolved_database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            upload = await session.get(DirectUpload, upload_id)
            assert upload is not None
            return dict(upload.options)
    finally:
        await engine.dispose()


def test_uploads_started_before_0010_keep_their_options(tmp_path: Path) -> None:
    import sqlalchemy as sa
    from alembic import command

    from scopix_server.db.migrate import alembic_config
    from scopix_server.services.uploads import UploadOptions

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    form = {
        "auto_describe": ["false"],
        "skip_duplicates": ["true"],
        "content_category": ["document"],
        "storage_target": ["default"],
        "title": ["Old one"],
        "tags": ["a,b , a"],
    }
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0009")
        connection.execute(
            sa.text(
                "INSERT INTO direct_uploads (id, tenant_id, file_id, filename, size_bytes, "
                "options, method, part_size, part_count, state, expires_at, created_at, "
                "updated_at) VALUES ('u1', 't1', 'f1', 'x.pdf', 5, :options, 'single', 5, 1, "
                "'pending', '2027-01-01 00:00:00', '2026-01-01 00:00:00', "
                "'2026-01-01 00:00:00')"
            ),
            {"options": json.dumps(form)},
        )
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
        stored = json.loads(
            connection.execute(sa.text("SELECT options FROM direct_uploads")).scalar_one()
        )
    assert UploadOptions.from_json(stored) == UploadOptions(
        title="Old one",
        tags=["a", "b"],
        auto_describe=False,
        skip_duplicates=True,
        content_category="document",
    )
    with engine.begin() as connection:  # and back
        command.downgrade(alembic_config(connection), "0009")
        back = json.loads(
            connection.execute(sa.text("SELECT options FROM direct_uploads")).scalar_one()
        )
    engine.dispose()
    assert back["tags"] == ["a,b"] and back["auto_describe"] == ["false"]
    assert back["title"] == ["Old one"] and back["skip_duplicates"] == ["true"]
