"""Durable jobs: a server killed (SIGKILL) mid-processing finishes every file after a restart."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from media_support import encode, text_image
from model_servers import EmbeddingServer
from server_support import free_port, kill_tree, serve_process

pytestmark = [pytest.mark.socket, pytest.mark.embedded]  # (on PostgreSQL: test_procrastinate)
WORDS = ["ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT"]


def serve(
    data_dir: Path, port: int, **settings: str
) -> AbstractContextManager[subprocess.Popen[str]]:
    return serve_process(
        data_dir,
        port,
        SCOPIX_SERVER_WORKERS="1",
        SCOPIX_SERVER_JOB_LEASE_SECONDS="2",  # a dead worker's job is free again soon
        SCOPIX_SERVER_JOB_POLL_SECONDS="0.2",
        **settings,
    )


def statuses(api: httpx.Client, ids: list[str]) -> list[dict]:  # type: ignore[type-arg]
    return [api.get(f"/files/{file_id}/status").json() for file_id in ids]


def test_killed_mid_processing_then_restarted_finishes_every_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    key = subprocess.run(
        [sys.executable, "-m", "scopix_server", "keys", "create", "--data-dir", str(data_dir),
         "--tenant", "durable"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v2"
    headers = {"Authorization": f"Bearer {key}"}
    ids: list[str] = []
    with serve(data_dir, port) as process, httpx.Client(base_url=base, headers=headers) as api:
        for number, word in enumerate(WORDS):
            image, _ = text_image([(f"{word} REPORT", 100, 120 + 40 * number)])
            response = api.post("/files/upload", files={"file": (f"{number}.jpg", encode(image))})
            assert response.status_code == 201, response.text
            ids.append(response.json()["image_id"])
        deadline = time.monotonic() + 120
        while True:  # kill while a file is decoded (OCR: the long step) and others wait
            now = statuses(api, ids)
            if any(s["variant_status"] == "processing" for s in now):
                break
            assert not all(s["is_terminal"] for s in now), "all processed before the kill"
            assert time.monotonic() < deadline, now
            time.sleep(0.02)
        kill_tree(process)  # SIGKILL to the API and its workers: no shutdown handler runs
    with sqlite3.connect(data_dir / "scopix.db") as db:  # the jobs its workers held
        killed_during = {
            row[0] for row in db.execute("SELECT id FROM jobs WHERE state = 'running'")
        }
    assert killed_during

    with serve(data_dir, port), httpx.Client(base_url=base, headers=headers) as api:
        deadline = time.monotonic() + 180
        while not all(s["is_terminal"] for s in statuses(api, ids)):
            assert time.monotonic() < deadline, statuses(api, ids)
            time.sleep(0.2)
        final = statuses(api, ids)
        texts = [api.get(f"/files/{file_id}").json()["visible_text"] for file_id in ids]
    assert all(s["status"] == "completed" for s in final), final
    assert all(s["description_status"] == "completed" for s in final), final
    assert [f"{word} REPORT" in text for word, text in zip(WORDS, texts, strict=True)] == [True] * 6
    with sqlite3.connect(data_dir / "scopix.db") as db:
        for kind in ("process", "describe"):  # one job of each per file, done for good
            done = [
                row[0]
                for row in db.execute(
                    "SELECT file_id FROM jobs WHERE state = 'done' AND kind = ?", (kind,)
                )
            ]
            assert sorted(done) == sorted(ids), kind
        attempts = dict(db.execute("SELECT id, attempts FROM jobs"))
        assert all(attempts[job] >= 2 for job in killed_during)  # they ran again


def test_killed_while_indexing_then_restarted_keeps_vectors_and_rows_in_step(
    tmp_path: Path,
) -> None:
    """SIGKILL while the embedder holds a request: after a restart every file is indexed once,
    with one vector per embedded text, and no vector is left without its file's record."""
    data_dir = tmp_path / "data"
    key = subprocess.run(
        [sys.executable, "-m", "scopix_server", "keys", "create", "--data-dir", str(data_dir),
         "--tenant", "durable"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    embedder = EmbeddingServer()
    embedder.delay = 30.0  # every request hangs: the kill lands mid-request
    settings = {
        "SCOPIX_SERVER_EMBEDDER": "openai",
        "SCOPIX_SERVER_EMBEDDING_BASE_URL": embedder.url,
        "SCOPIX_SERVER_EMBEDDING_MODEL": "bag-of-words",
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v2"
    headers = {"Authorization": f"Bearer {key}"}
    notes = [f"Note {word}: the {word.lower()} team meets on Monday." for word in WORDS]
    try:
        with (
            serve(data_dir, port, **settings) as process,
            httpx.Client(base_url=base, headers=headers) as api,
        ):
            ids = []
            for number, text in enumerate(notes):
                response = api.post("/files/upload", files={"file": (f"{number}.txt", text)})
                assert response.status_code == 201, response.text
                ids.append(response.json()["image_id"])
            deadline = time.monotonic() + 60
            while not embedder.seen:  # a file's texts are at the embedder, which holds them
                assert time.monotonic() < deadline, statuses(api, ids)
                time.sleep(0.05)
            kill_tree(process)
        embedder.delay = 0.0
        with serve(data_dir, port, **settings), httpx.Client(base_url=base, headers=headers) as api:
            deadline = time.monotonic() + 120
            while not all(s["is_terminal"] for s in statuses(api, ids)):
                assert time.monotonic() < deadline, statuses(api, ids)
                time.sleep(0.2)
            final = statuses(api, ids)
            found = api.post(
                "/agents/search/documents", json={"query": "delta team", "mode": "semantic"}
            ).json()
    finally:
        embedder.stop()
    assert [s["embedding_status"] for s in final] == ["completed"] * len(ids), final
    assert found["results"][0]["document_id"] == ids[WORDS.index("DELTA")]
    with sqlite3.connect(data_dir / "scopix.db") as db:
        per_file = dict(
            db.execute(
                "SELECT f.id, count(e.id) FROM files f LEFT JOIN embeddings e "
                "ON e.file_id = f.id AND e.model = f.embedding_model GROUP BY f.id"
            )
        )
        orphans = db.execute(
            "SELECT count(*) FROM embeddings e LEFT JOIN files f ON f.id = e.file_id "
            "WHERE f.id IS NULL OR f.embedding_status != 'completed'"
        ).fetchone()[0]
    # a note is one chunk; with its summary, two vectors each: none doubled by the rerun
    assert per_file == {file_id: 2 for file_id in ids}
    assert orphans == 0
