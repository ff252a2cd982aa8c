"""``scopix-server migrate-to``: an embedded installation (SQLite, a folder) moved to PostgreSQL
and S3 with the real command; the moved installation serves the same keys, files, bytes, words
and vectors, and finishes the file that was still waiting."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from media_support import encode, text_image
from scopix_server import Settings
from server_support import (
    ScaledBackends,
    free_port,
    make_key,
    serve_process,
    start_server,
    wait_until_terminal_sync,
)

pytestmark = [pytest.mark.services, pytest.mark.socket, pytest.mark.embedded]  # (the source)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[ScaledBackends]:
    backends = ScaledBackends.start(tmp_path / "s3")
    try:
        yield backends
    finally:
        backends.stop()


def migrate(
    data_dir: Path, backends: ScaledBackends, database: str, bucket: str = "moved"
) -> subprocess.CompletedProcess[str]:
    fresh = backends.fresh(database=database, bucket=bucket, migrated=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOPIX_")}
    env.update(
        SCOPIX_SERVER_S3_ENDPOINT_URL=fresh["s3_endpoint_url"],
        SCOPIX_SERVER_S3_ACCESS_KEY_ID=fresh["s3_access_key_id"],
        SCOPIX_SERVER_S3_SECRET_ACCESS_KEY=fresh["s3_secret_access_key"],
        SCOPIX_SERVER_EMBEDDER="minilm",
    )
    return subprocess.run(
        [sys.executable, "-m", "scopix_server", "migrate-to", "--data-dir", str(data_dir),
         "--database-url", fresh["database_url"], "--storage-url", fresh["storage_url"]],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_an_embedded_installation_moves_to_postgres_and_s3(
    tmp_path: Path, target: ScaledBackends
) -> None:
    data_dir = tmp_path / "embedded"
    settings = Settings(data_dir=data_dir, workers=1, embedder="minilm", ocr_enabled=True)
    key = make_key(settings, "movers")
    headers = {"Authorization": f"Bearer {key}"}
    image, _ = text_image([("LIGHTHOUSE KEEPER", 30, 60)], size=(640, 240), font_size=40)
    photo = encode(image)
    server = start_server(settings)
    try:
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as api:
            first = api.post("/files/upload", files={"file": ("sign.jpg", photo)}).json()
            note = "Minutes: the harbour committee approved the new ferry timetable."
            second = api.post("/files/upload", files={"file": ("minutes.txt", note)}).json()
            for file_id in (first["image_id"], second["image_id"]):
                assert wait_until_terminal_sync(api, file_id)["status"] == "completed"
    finally:
        server.stop()
    waiting_server = start_server(settings.model_copy(update={"workers": 0}))
    try:
        with httpx.Client(base_url=waiting_server.base_url, headers=headers, timeout=60) as api:
            late = api.post(
                "/files/upload", files={"file": ("late.txt", "Late arrival: a parcel of maps.")}
            ).json()["image_id"]
    finally:
        waiting_server.stop()

    done = migrate(data_dir, target, "moved")
    assert done.returncode == 0, done.stderr
    assert "jobs queued again" in done.stdout and "1 jobs queued again" in done.stdout
    assert "signing.key" in done.stderr  # (how to keep the links signed before)

    fresh = target.last
    again = migrate(data_dir, target, "moved")  # the target is no longer empty
    assert again.returncode == 1 and "already has 1 tenant" in again.stderr
    port = free_port()
    secret = (data_dir / "signing.key").read_text().strip()
    environment = {f"SCOPIX_SERVER_{name.upper()}": value for name, value in fresh.items()}
    with (
        serve_process(
            tmp_path / "elsewhere", port, SCOPIX_SERVER_SIGNING_SECRET=secret,
            SCOPIX_SERVER_EMBEDDER="minilm", SCOPIX_SERVER_WORKERS="1", **environment,
        ),
        httpx.Client(
            base_url=f"http://127.0.0.1:{port}/api/v2", headers=headers, timeout=60
        ) as api,
    ):  # fmt: skip
        assert api.get("/files", params={"limit": 10}).json()["total_count"] == 3
        assert wait_until_terminal_sync(api, late)["status"] == "completed"  # (queued again)
        original = api.get(f"/files/{first['image_id']}/download", follow_redirects=True)
        assert original.content == photo
        assert api.get(f"/files/{first['image_id']}").json()["thumbnail_url"]
        words = api.get("/files", params={"search": "lighthouse"}).json()
        assert [f["id"] for f in words["items"]] == [first["image_id"]]  # (OCR text, tsvector)
        meaning = api.post(
            "/agents/search/documents",
            json={"query": "which boat schedule was agreed", "mode": "semantic"},
        )
        assert meaning.status_code == 200, meaning.text
        hits = [hit["document_id"] for hit in meaning.json()["results"]]
        assert hits and hits[0] == second["image_id"]  # (the vectors moved with it)
    # objects already in the bucket (a first run cut short) are not sent again
    resumed = migrate(data_dir, target, "resumed")
    assert resumed.returncode == 0, resumed.stderr
    assert "copied 0 objects" in resumed.stdout and "already there" in resumed.stdout
