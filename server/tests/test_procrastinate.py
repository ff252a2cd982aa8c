"""Jobs on Procrastinate (PostgreSQL): ``serve`` runs them in-process; ``serve --no-workers``
and ``scopix-server worker`` processes split the work; a killed worker's job runs again on
another; retries wait as the pipeline asks; the purge runs in the workers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from model_servers import EmbeddingServer, Reply
from scopix_server import Settings
from scopix_server.db.session import create_engine
from scopix_server.jobs.procrastinate_queue import conninfo, every
from server_support import (
    Postgres,
    free_port,
    make_key,
    png_bytes,
    serve_process,
    start_postgres,
    start_server,
    stored_objects,
    wait_until_terminal_sync,
)

pytestmark = [pytest.mark.services]

NOTES = {
    "whales.txt": "Humpback whales sing long songs in the cold ocean.",
    "bread.txt": "Knead the dough, let it rise, then bake the bread for forty minutes.",
    "trains.txt": "The night train to Vienna leaves from platform nine at ten.",
    "bees.txt": "Honey bees dance to tell the hive where the flowers are.",
}


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    cluster = start_postgres()  # (one per test: a server queues the stale files it finds)
    yield cluster
    cluster.stop()


@pytest.fixture
def endpoint() -> Iterator[EmbeddingServer]:
    server = EmbeddingServer(key="sk-local")
    yield server
    server.stop()


def _embedding(endpoint: EmbeddingServer) -> dict[str, Any]:
    return {
        "embedder": "openai",
        "embedding_base_url": endpoint.url,
        "embedding_model": "bag",
        "embedding_api_key": "sk-local",
    }


async def _scalar(url: str, query: str) -> Any:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(text(query))).scalar()
    finally:
        await engine.dispose()


def test_the_connection_string_and_the_schedules() -> None:
    info = conninfo("postgresql+asyncpg://scopix:p%40ss@db.internal:5433/library?ssl=require")
    assert "host=db.internal" in info and "port=5433" in info and "dbname=library" in info
    assert "password=p@ss" in info.replace("'", "") and "sslmode=require" in info
    assert every(2) == "* * * * * */2"
    assert every(600) == "*/10 * * * *"
    assert every(3 * 3600) == "0 */3 * * *"


def test_serve_runs_jobs_on_procrastinate_with_retries_and_the_purge(
    tmp_path: Path, postgres: Postgres, endpoint: EmbeddingServer
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=postgres.url,
        workers=2,
        job_retry_delay_seconds=0.5,
        retention_days=0,
        purge_interval_seconds=1,
        **_embedding(endpoint),
    )
    assert settings.resolved_job_queue == "procrastinate"
    # the first texts the embedder sees are refused (503): the job runs again, after a delay
    endpoint.script.append(Reply(status=503, error=("overloaded", "try later")))
    live = start_server(settings)
    try:
        api = httpx.Client(
            base_url=live.base_url,
            headers={"authorization": f"Bearer {make_key(settings)}"},
            timeout=30,
        )
        note = api.post("/files/upload", files={"file": ("w.txt", NOTES["whales.txt"])}).json()
        picture = api.post("/files/upload", files={"file": ("p.png", png_bytes(40, 30))}).json()
        for file_id in (note["image_id"], picture["image_id"]):
            status = wait_until_terminal_sync(api, file_id, timeout=60)
            assert status["status"] == "completed", status
            assert status["embedding_status"] == "completed", status
        # the embedded queue's table was not used: Procrastinate ran the jobs
        assert asyncio.run(_scalar(postgres.url, "SELECT count(*) FROM jobs")) == 0
        waiting = "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
        assert asyncio.run(_scalar(postgres.url, waiting + " AND queue_name <> 'maintenance'")) == 0
        whale_calls = [b for b in endpoint.seen if any("Humpback" in t for t in b["input"])]
        assert len(whale_calls) >= 2  # refused once, then embedded
        # the purge is the workers' periodic task: a deleted file's bytes go within seconds
        objects = len(stored_objects(settings))
        assert api.delete(f"/files/{picture['image_id']}").status_code == 200
        deadline = time.monotonic() + 30
        while len(stored_objects(settings)) != objects - 1:
            assert time.monotonic() < deadline, "the deleted file was not purged"
            time.sleep(0.2)
        api.close()
    finally:
        live.stop()


def _worker(data_dir: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scopix_server", "worker", "--data-dir", str(data_dir),
         "--log-level", "warning", *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_api_only_servers_and_worker_processes_and_a_killed_worker(
    tmp_path: Path, postgres: Postgres, endpoint: EmbeddingServer
) -> None:
    data = tmp_path / "data"
    env = dict(os.environ)  # (conftest cleared the ambient settings; --backends scaled set its own)
    env.update(
        SCOPIX_SERVER_DATABASE_URL=postgres.url,
        SCOPIX_SERVER_EMBEDDER="openai",
        SCOPIX_SERVER_EMBEDDING_BASE_URL=endpoint.url,
        SCOPIX_SERVER_EMBEDDING_MODEL="bag",
        SCOPIX_SERVER_EMBEDDING_API_KEY="sk-local",
        SCOPIX_SERVER_JOB_LEASE_SECONDS="3",
    )
    settings = Settings(data_dir=data, database_url=postgres.url)
    endpoint.delay = 60.0  # the whales' vectors hang: a worker holds that job
    endpoint.slow_when = lambda texts: any("Humpback" in t for t in texts)
    port = free_port()
    first = _worker(data, env, "--concurrency", "2")
    second: subprocess.Popen[str] | None = None
    try:
        with serve_process(data, port, "--no-workers", **env):
            api = httpx.Client(
                base_url=f"http://127.0.0.1:{port}/api/v2",
                headers={"authorization": f"Bearer {make_key(settings)}"},
                timeout=30,
            )
            ids = {}
            for name, body in NOTES.items():
                answer = api.post("/files/upload", files={"file": (name, body.encode())})
                assert answer.status_code == 201, answer.text
                ids[name] = answer.json()["image_id"]
            for name in ("bread.txt", "trains.txt", "bees.txt"):  # the API server has no workers
                assert wait_until_terminal_sync(api, ids[name], 60)["status"] == "completed"
            deadline = time.monotonic() + 30
            while not any("Humpback" in t for b in endpoint.seen for t in b["input"]):
                assert time.monotonic() < deadline, "the whales' job never reached the embedder"
                time.sleep(0.05)
            first.send_signal(signal.SIGKILL)  # mid-job: its heartbeat stops
            first.communicate(timeout=10)
            endpoint.delay = 0.0
            second = _worker(data, env, "--queues", "embeddings,files")
            status = wait_until_terminal_sync(api, ids["whales.txt"], 60)
            assert status["embedding_status"] == "completed", status
            held = [b for b in endpoint.seen if any("Humpback" in t for t in b["input"])]
            assert len(held) >= 2  # the killed worker's attempt, then the other's
            found = api.post(
                "/agents/search/documents", json={"query": "humpback whales", "mode": "semantic"}
            ).json()
            assert found["document_ids"][0] == ids["whales.txt"]
            api.close()
    finally:
        errors = {}
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.terminate()  # (SIGTERM: a worker stops between jobs)
                errors[process.pid] = process.communicate(timeout=30)[1]
    assert second is not None and second.returncode == 0, errors.get(second.pid)


@pytest.mark.embedded  # (the refusal of SQLite)
def test_worker_queues_need_procrastinate(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOPIX_")}
    done = subprocess.run(
        [sys.executable, "-m", "scopix_server", "worker", "--data-dir", str(tmp_path),
         "--queues", "files"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "--queues chooses among Procrastinate's queues" in done.stderr
    with pytest.raises(ValueError, match="needs PostgreSQL"):
        Settings(data_dir=tmp_path, job_queue="procrastinate")
