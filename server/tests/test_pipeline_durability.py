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
from server_support import free_port, serve_process

pytestmark = pytest.mark.socket
WORDS = ["ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT"]


def serve(data_dir: Path, port: int) -> AbstractContextManager[subprocess.Popen[str]]:
    return serve_process(
        data_dir,
        port,
        SCOPIX_SERVER_WORKERS="1",
        SCOPIX_SERVER_JOB_LEASE_SECONDS="2",  # a dead worker's job is free again soon
        SCOPIX_SERVER_JOB_POLL_SECONDS="0.2",
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
        while True:  # kill while one file is being processed and others still wait
            states = [s["description_status"] for s in statuses(api, ids)]
            if "processing" in states and "queued" in states:
                break
            assert "queued" in states, f"all processed before the kill: {states}"
            assert time.monotonic() < deadline, states
            time.sleep(0.02)
        process.kill()  # SIGKILL: no shutdown handler runs
        process.wait(timeout=10)
    killed_during = [i for i, s in zip(ids, states, strict=True) if s == "processing"]

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
        jobs = dict(db.execute("SELECT file_id, attempts FROM jobs WHERE state = 'done'"))
        assert set(jobs) == set(ids)  # one job per file, each done once and for all
        assert all(jobs[file_id] >= 2 for file_id in killed_during)  # it ran again
