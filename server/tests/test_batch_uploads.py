"""Batch uploads: per-file acceptance in request order, sessions, limits refused whole."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from server_support import ELF, GIF_1X1, LiveServer, make_key, png_bytes, stored_objects


def api_for(live: LiveServer, **key_options: object) -> httpx.Client:
    key = make_key(live.settings, **key_options)  # type: ignore[arg-type]
    return httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def api(live: LiveServer) -> Iterator[httpx.Client]:
    with api_for(live) as c:
        yield c


def batch(api: httpx.Client, files: list[tuple[str, bytes]], **fields: str) -> httpx.Response:
    return api.post("/files/upload/batch", files=[("files", item) for item in files], data=fields)


def test_each_file_on_its_own_in_request_order(api: httpx.Client) -> None:
    existing = api.post("/files/upload", files={"file": ("old.png", png_bytes(4, 4, (9, 9, 9)))})
    files = [
        ("a.png", png_bytes(2, 2, (1, 0, 0))),
        ("evil.jpg", ELF),
        ("dup.png", png_bytes(4, 4, (9, 9, 9))),
        ("b.gif", GIF_1X1),
        ("empty.png", b""),
    ]
    response = batch(api, files, skip_duplicates="true", tags="batch")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["total_files"], body["accepted_files"], body["rejected_files"]) == (5, 3, 2)
    assert body["status"] == "partial"
    assert body["status_url"] == f"/api/v2/uploads/sessions/{body['session_id']}"
    results = body["results"]
    assert [r["filename"] for r in results] == [
        "a.png",
        "evil.jpg",
        "dup.png",
        "b.gif",
        "empty.png",
    ]
    assert results[1]["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert results[4]["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert results[2]["skipped"] is True
    assert results[2]["skipped_existing_image_id"] == existing.json()["image_id"]
    assert results[0]["status"] == "processing" and results[3]["media_type"] == "image"
    listed = api.get("/files", params={"tags": "batch"}).json()
    assert listed["total_count"] == 2  # a.png and b.gif; the duplicate stored nothing


def test_session_progress_results_and_cancel(api: httpx.Client) -> None:
    body = batch(api, [("a.png", png_bytes(3, 3)), ("b.exe", ELF), ("c.gif", GIF_1X1)]).json()
    session_url = body["status_url"].removeprefix("/api/v2")
    progress = api.get(session_url).json()
    assert progress["total_files"] == 3 and progress["failed_files"] == 1
    assert progress["pending_files"] == 2 and progress["status"] == "processing"
    assert progress["progress_percentage"] == pytest.approx(33.3)
    results = api.get(f"{session_url}/results").json()
    assert [item["filename"] for item in results["items"]] == ["a.png", "c.gif"]
    assert results["total_count"] == 2
    cancelled = api.post(f"{session_url}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["pending_files"] == 0
    for item in results["items"]:
        assert api.get(f"/files/{item['id']}/status").json()["description_status"] == "skipped"


def test_all_refused_is_rejected_and_auto_describe_off_is_completed(api: httpx.Client) -> None:
    rejected = batch(api, [("x", ELF), ("y", b"")]).json()
    assert rejected["status"] == "rejected" and rejected["accepted_files"] == 0
    done = batch(api, [("d.gif", GIF_1X1)], auto_describe="false").json()
    assert done["status"] == "processing"  # the upload itself is still being processed
    progress = api.get(done["status_url"].removeprefix("/api/v2")).json()
    assert progress["status"] == "completed" and progress["progress_percentage"] == 100.0


def test_more_files_than_the_tier_allows_is_refused_whole(live: LiveServer) -> None:
    before = len(stored_objects(live.settings))
    with api_for(live, tier="free") as api:  # free: 10 files per batch
        files = [(f"{i}.png", png_bytes(2, 2, (i, 0, 0))) for i in range(11)]
        response = batch(api, files)
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == "BATCH_TOO_LARGE"
        assert api.get("/files").json()["total_count"] == 0
    assert len(stored_objects(live.settings)) == before


def test_a_batch_over_the_quota_is_refused_whole(live: LiveServer) -> None:
    with api_for(live, tier="free") as api:
        for i in range(8):
            response = api.post("/files/upload", files={"file": (f"{i}.gif", GIF_1X1)})
            assert response.status_code == 201, response.text
        response = batch(api, [(f"{i}.png", png_bytes(2, 2, (0, i, 0))) for i in range(3)])
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "QUOTA_EXCEEDED"
        assert (error["details"]["available"], error["details"]["requested"]) == (2, 3)
        assert api.get("/files").json()["total_count"] == 8


def test_batch_without_files_and_unknown_session(api: httpx.Client) -> None:
    response = api.post("/files/upload/batch", files={"file": ("a.png", png_bytes())})
    assert response.status_code == 422  # the field is "files"
    assert api.get(f"/uploads/sessions/{uuid.uuid4()}").status_code == 404
    assert api.get("/uploads/sessions/not-an-id/results").status_code == 404


def test_concurrent_upload_limit(live: LiveServer) -> None:
    """Stalled uploads hold their slots; with all 20 of the starter tier taken, the next is 429."""
    with api_for(live, tier="starter") as api:  # 20 concurrent uploads, 30 requests a minute
        key = api.headers["Authorization"]
        host, port = live.root_url.removeprefix("http://").split(":")
        head = (
            f"POST /api/v2/files/upload HTTP/1.1\r\nHost: {host}\r\nAuthorization: {key}\r\n"
            "Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 100000\r\n\r\n"
        ).encode()
        stalled: list[socket.socket] = []
        try:
            for _ in range(20):
                conn = socket.create_connection((host, int(port)))
                conn.sendall(head + b"--XyZ\r\n")  # ...and then nothing more
                stalled.append(conn)
            time.sleep(0.5)
            refused = api.post("/files/upload", files={"file": ("no.gif", GIF_1X1)})
            assert refused.status_code == 429, refused.text
            assert refused.headers["Retry-After"] == "1"
            assert "at most 20 uploads" in refused.json()["error"]["message"]
        finally:
            for conn in stalled:
                conn.close()
        deadline = time.monotonic() + 5
        while True:  # the slots come back once the stalled requests are gone
            response = api.post("/files/upload", files={"file": ("late.gif", GIF_1X1)})
            if response.status_code == 201:
                break
            assert time.monotonic() < deadline, "upload slots were not released"
            time.sleep(0.2)


def stored_uploads_metric(live: LiveServer) -> float:
    text = httpx.get(f"{live.root_url}/metrics").text
    for line in text.splitlines():
        if line.startswith('scopix_uploads_total{outcome="stored"}'):
            return float(line.split()[-1])
    return 0.0


def test_batch_uploads_are_counted_in_the_metrics(live: LiveServer, api: httpx.Client) -> None:
    before = stored_uploads_metric(live)
    body = batch(api, [("m1.png", png_bytes(2, 3)), ("m2.png", png_bytes(3, 2)), ("x", ELF)])
    assert body.json()["accepted_files"] == 2
    assert stored_uploads_metric(live) == before + 2
