"""Direct uploads into a real S3 server (``rclone serve s3``, SigV4 enforced), by the SDK.

The bytes go from the SDK to the bucket through presigned URLs; the server only hands out the
URLs, checks the staged object at ``complete`` (size, SHA-256) and copies it to its content key.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from media_support import encode, text_image
from scopix import ClientConfig, Scopix, TransferConfig, UploadError
from scopix_server import Settings
from scopix_server.db.models import utcnow
from scopix_server.storage import open_storage
from server_support import LiveServer, S3Server, make_key, purge_at, start_s3, start_server

pytestmark = [pytest.mark.anyio, pytest.mark.socket]

MiB = 1024 * 1024
PART = 8 * MiB


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_s3(Path(tmp_path_factory.mktemp("s3-direct")), "scopix")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, s3: S3Server) -> Iterator[LiveServer]:
    live = start_server(
        Settings(
            data_dir=Path(tmp_path_factory.mktemp("s3-direct-server")),
            storage_url="s3://scopix/library",
            s3_endpoint_url=s3.endpoint,
            s3_access_key_id=s3.access_key,
            s3_secret_access_key=s3.secret_key,
            workers=1,
            job_poll_seconds=0.05,
            direct_upload_part_bytes=PART,
            direct_upload_multipart_bytes=PART,
        )
    )
    yield live
    live.stop()


@pytest.fixture(scope="module")
def key(server: LiveServer) -> str:
    return make_key(server.settings)


def bucket(s3: S3Server) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name="us-east-1",
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def staged(s3: S3Server) -> list[str]:
    """Objects of direct uploads, and multipart uploads not finished, in the bucket."""
    client = bucket(s3)
    objects = client.list_objects_v2(Bucket="scopix", Prefix="library/direct/")
    return [o["Key"] for o in objects.get("Contents", [])] + unfinished(s3)


def unfinished(s3: S3Server) -> list[str]:
    client = bucket(s3)
    try:
        uploads = client.list_multipart_uploads(Bucket="scopix").get("Uploads", [])
    except client.exceptions.NoSuchUpload:  # (rclone's answer when there are none)
        uploads = []
    return [u["Key"] for u in uploads]


def big_file(path: Path, size: int) -> str:
    """A file of ``size`` bytes with a PNG signature (stored, not decodable); its sha256."""
    digest = hashlib.sha256()
    head = b"\x89PNG\r\n\x1a\n"
    with path.open("wb") as out:
        out.write(head)
        digest.update(head)
        left = size - len(head)
        while left:
            chunk = os.urandom(min(left, 4 * MiB))
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return "sha256:" + digest.hexdigest()


class Counter:
    """Counts the part PUTs an SDK client sends (a request hook on its own httpx client)."""

    def __init__(self) -> None:
        self.puts: list[str] = []
        self.in_flight = self.most_in_flight = 0

    async def __call__(self, request: httpx.Request) -> None:
        if request.method == "PUT":
            self.puts.append(str(request.url))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    async def answered(self, response: httpx.Response) -> None:
        if response.request.method == "PUT":
            self.in_flight -= 1

    def client(self, **hooks: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=120,
            event_hooks={
                "request": [self, *hooks.get("extra", [])],
                "response": [self.answered],
            },
        )


def sdk(server: LiveServer, key: str, http: httpx.AsyncClient) -> Scopix:
    config = ClientConfig(
        api_key=key, base_url=server.base_url, polling_interval=0.1, retry_delay=0.05
    )
    return Scopix.from_config(config, http_client=http)


async def test_a_small_file_in_one_presigned_put_is_processed(
    server: LiveServer, key: str, s3: S3Server, tmp_path: Path
) -> None:
    image = encode(text_image([("PRESIGNED", 60, 60)], size=(700, 260))[0], "PNG")
    counter = Counter()
    transfer = TransferConfig(direct_threshold=0, state_dir=tmp_path)
    async with counter.client() as http, sdk(server, key, http) as client:
        result = await client.files.upload(image, filename="sign.png", wait=True, transfer=transfer)
        assert await client.files.download(result.file_id) == image
    assert len(counter.puts) == 1 and counter.puts[0].startswith(s3.endpoint)
    assert "X-Amz-Signature=" in counter.puts[0]  # straight to the bucket, SigV4
    assert result.is_completed and "PRESIGNED" in (result.visible_text or "")
    assert result.deduplicated is False and result.media_type == "image"
    assert result.object_key and (s3.root / "scopix" / "library" / result.object_key).is_file()
    assert unfinished(s3) == []


async def test_300_mb_killed_midway_then_resumed_sends_only_missing_parts(
    server: LiveServer, key: str, s3: S3Server, tmp_path: Path
) -> None:
    path = tmp_path / "scan.png"
    content_hash = big_file(path, 300 * MiB)
    state_dir = tmp_path / "state"
    part_count = -(-300 * MiB // PART)
    # The crash comes right after a part's answer. (A part cut in the middle is discarded by
    # AWS S3, but rclone streams parts to its backend in order: a cut part can spoil the whole
    # multipart upload there, so this test does not cut one.)
    script = textwrap.dedent(
        """
        import asyncio, os, signal, sys
        import httpx
        from scopix import ClientConfig, Scopix, TransferConfig

        async def crash_after_12_parts(response):
            if response.request.method == "PUT" and response.status_code == 200:
                crash_after_12_parts.count = getattr(crash_after_12_parts, "count", 0) + 1
                if crash_after_12_parts.count == 12:
                    os.kill(os.getpid(), signal.SIGKILL)  # a crash, not a clean exit

        async def main():
            transfer = TransferConfig(state_dir=sys.argv[4], concurrency=1)
            config = ClientConfig(api_key=sys.argv[2], base_url=sys.argv[1])
            http = httpx.AsyncClient(event_hooks={"response": [crash_after_12_parts]})
            async with Scopix.from_config(config, http_client=http) as client:
                await client.files.upload(sys.argv[3], transfer=transfer)

        asyncio.run(main())
        """
    )
    crashed = subprocess.run(
        [sys.executable, "-c", script, server.base_url, key, str(path), str(state_dir)],
        capture_output=True,
        timeout=300,
    )
    assert crashed.returncode == -9, crashed.stderr.decode()[-2000:]
    [state_file] = list(state_dir.glob("*.json"))  # the interrupted upload is remembered
    counter = Counter()
    events: list[int] = []
    async with counter.client() as http, sdk(server, key, http) as client:
        upload_id = json.loads(state_file.read_text())["upload_id"]
        before = (await client.request("GET", f"/files/direct-uploads/{upload_id}")).json()
        received = before["received_parts"]
        assert before["state"] == "pending" and received == list(range(1, 13))
        result = await client.files.upload(
            path,
            transfer=TransferConfig(state_dir=state_dir),
            on_progress=lambda e: events.append(e.uploaded_bytes),
        )
        details = await client.files.get(result.file_id)
    assert len(counter.puts) == part_count - len(received)  # only the missing parts
    assert counter.most_in_flight == 4  # in parallel, as many as TransferConfig.concurrency
    sent = {int(url.split("partNumber=")[1].split("&")[0]) for url in counter.puts}
    assert sent == set(range(1, part_count + 1)) - set(received)
    assert events[-1] == 300 * MiB and events == sorted(events)
    assert result.image_id == before["image_id"] and result.deduplicated is False
    assert details.content_hash == content_hash and details.size_bytes == 300 * MiB
    assert result.object_key == f"direct/{upload_id}"  # the parts' object is the file's
    stored = s3.root / "scopix" / "library" / result.object_key
    assert stored.stat().st_size == 300 * MiB
    assert unfinished(s3) == [] and list(state_dir.glob("*.json")) == []


async def test_a_known_file_is_not_sent_again(server: LiveServer, key: str, tmp_path: Path) -> None:
    path = tmp_path / "twice.png"
    big_file(path, 12 * MiB)
    transfer = TransferConfig(direct_threshold=MiB, state_dir=tmp_path)
    counter = Counter()
    async with counter.client() as http, sdk(server, key, http) as client:
        first = await client.files.upload(path, transfer=transfer, skip_duplicates=True)
        sent_first = len(counter.puts)
        second = await client.files.upload(path, transfer=transfer, skip_duplicates=True)
    assert sent_first == 2 and len(counter.puts) == 2  # the second sent nothing
    assert first.deduplicated is False and second.deduplicated is True
    assert second.image_id == first.image_id and second.object_key == first.object_key


async def test_a_tampered_part_url_is_refused_then_resumed(
    server: LiveServer, key: str, s3: S3Server, tmp_path: Path
) -> None:
    path = tmp_path / "tamper.png"
    content_hash = big_file(path, 20 * MiB)
    seen: list[str] = []

    async def tamper(request: httpx.Request) -> None:
        if request.method == "PUT" and "partNumber=2" in str(request.url):
            seen.append(str(request.url))
            forged = str(request.url).replace("X-Amz-Signature=", "X-Amz-Signature=0")
            request.url = httpx.URL(forged)

    counter = Counter()
    transfer = TransferConfig(direct_threshold=MiB, state_dir=tmp_path, concurrency=1)
    async with counter.client(extra=[tamper]) as http, sdk(server, key, http) as client:
        with pytest.raises(UploadError, match="resume_upload") as refused:
            await client.files.upload(path, transfer=transfer)
    upload_id = refused.value.details["upload_id"]
    assert refused.value.details["part_number"] == 2
    # the bucket checks the signature: a forged URL gets 403 (with a body it may also just
    # close the connection before reading it, which the SDK retries, then reports)
    forged = seen[0].replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert httpx.put(forged, content=b"x").status_code == 403
    counter = Counter()
    async with counter.client() as http, sdk(server, key, http) as client:
        status = (await client.request("GET", f"/files/direct-uploads/{upload_id}")).json()
        assert status["received_parts"] == [1]
        result = await client.files.resume_upload(upload_id, path, transfer=transfer)
        details = await client.files.get(result.file_id)
    assert len(counter.puts) == 2 and details.content_hash == content_hash  # parts 2 and 3


def test_a_wrong_hash_fails_and_leaves_nothing(server: LiveServer, key: str, s3: S3Server) -> None:
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(17 * MiB)
    before = s3.objects("scopix")
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as api:
        started = api.post(
            "/files/direct-uploads",
            json={
                "filename": "x.png",
                "size_bytes": len(data),
                "content_hash": "sha256:" + "1" * 64,
            },
        ).json()
        assert started["method"] == "multipart" and len(started["parts"]) == 3
        etags = []
        for part in started["parts"]:
            offset = (part["part_number"] - 1) * PART
            put = httpx.put(part["upload_url"], content=data[offset : offset + PART])
            assert put.status_code == 200, put.text
            etags.append(put.headers["etag"])
        assert any(started["upload_id"] in k for k in staged(s3))  # its multipart upload
        done = api.post(
            f"/files/direct-uploads/{started['upload_id']}/complete",
            json={"parts": [{"part_number": n, "etag": e} for n, e in enumerate(etags, 1)]},
        )
        assert done.status_code == 422 and "hash" in done.json()["error"]["message"]
        assert api.get(f"/files/{started['image_id']}").status_code == 404  # no file row
        status = api.get(f"/files/direct-uploads/{started['upload_id']}").json()
        assert status["state"] == "failed"
    assert s3.objects("scopix") == before  # no object left
    assert not any(started["upload_id"] in k for k in staged(s3))  # no parts either


def test_an_expired_presigned_url_is_refused(s3: S3Server, tmp_path: Path) -> None:
    from scopix_server.storage.s3_staging import S3Uploads

    storage = open_storage(
        "s3://scopix/expiry",
        Settings(
            data_dir=tmp_path,
            s3_endpoint_url=s3.endpoint,
            s3_access_key_id=s3.access_key,
            s3_secret_access_key=s3.secret_key,
        ),
    )
    uploads = S3Uploads(storage)  # type: ignore[arg-type]
    url = uploads.put_url("expiring", ttl=1)
    time.sleep(2.1)
    answer = httpx.put(url, content=b"late")
    assert answer.status_code in (400, 403) and "AccessDenied" in answer.text
    assert uploads.parts("expiring", None) == {}


def test_the_purge_aborts_abandoned_multipart_uploads(
    server: LiveServer, key: str, s3: S3Server
) -> None:
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as api:
        started = api.post(
            "/files/direct-uploads", json={"filename": "gone.png", "size_bytes": 3 * PART}
        ).json()
        put = httpx.put(started["parts"][0]["upload_url"], content=b"\x89PNG" + bytes(PART - 4))
        assert put.status_code == 200
        assert api.get(f"/files/direct-uploads/{started['upload_id']}").json()[
            "received_parts"
        ] == [1]
    assert any(started["upload_id"] in k for k in staged(s3))

    assert purge_at(server.settings, utcnow() + timedelta(days=2)).expired_uploads >= 1
    assert not any(started["upload_id"] in k for k in staged(s3))  # the part is gone


def test_a_complete_that_died_after_joining_the_parts_can_be_repeated(
    server: LiveServer, key: str, s3: S3Server
) -> None:
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(2 * PART)
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as api:
        started = api.post(
            "/files/direct-uploads", json={"filename": "joined.png", "size_bytes": len(data)}
        ).json()
        for part in started["parts"]:
            offset = (part["part_number"] - 1) * PART
            assert httpx.put(part["upload_url"], content=data[offset : offset + PART]).is_success
        # what a complete did before its server died: the parts are joined into the object
        client, object_key = bucket(s3), f"library/direct/{started['upload_id']}"
        [upload] = [u for u in client.list_multipart_uploads(Bucket="scopix")["Uploads"]
                    if u["Key"] == object_key]  # fmt: skip
        parts = client.list_parts(Bucket="scopix", Key=object_key, UploadId=upload["UploadId"])
        client.complete_multipart_upload(
            Bucket="scopix", Key=object_key, UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]}
                                       for p in parts["Parts"]]},
        )  # fmt: skip
        status = api.get(f"/files/direct-uploads/{started['upload_id']}").json()
        assert status["received_parts"] == [1, 2, 3] and status["parts"] == []
        done = api.post(f"/files/direct-uploads/{started['upload_id']}/complete", json={})
        assert done.status_code == 200, done.text
        assert done.json()["content_hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
        assert api.get(f"/files/{started['image_id']}/download").content == data
