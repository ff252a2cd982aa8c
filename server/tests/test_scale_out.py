"""A deployment in real OS processes: two API servers (``serve --no-workers``) and three
``scopix-server worker`` processes against one PostgreSQL and one S3 server. Uploads through
both APIs, one worker SIGKILLed mid-run: every file ends completed, by one job each, none lost;
the same new bytes sent through both APIs at once with ``skip_duplicates`` make one file."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from scopix_server import Settings
from scopix_server.db.session import create_engine
from server_support import (
    Postgres,
    S3Server,
    free_port,
    make_key,
    png_bytes,
    serve_process,
    start_postgres,
    start_s3,
)

pytestmark = [pytest.mark.services]

UPLOADS = 300


@pytest.fixture
def backends(tmp_path: Path) -> Iterator[tuple[Postgres, S3Server]]:
    postgres = start_postgres()
    s3 = start_s3(tmp_path / "s3", "scopix")
    try:
        yield postgres, s3
    finally:
        s3.stop()
        postgres.stop()


def _worker(data_dir: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scopix_server", "worker", "--data-dir", str(data_dir),
         "--concurrency", "2", "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


async def _rows(url: str, query: str) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(text(query))).all())
    finally:
        await engine.dispose()


async def _upload_all(bases: list[str], key: str) -> list[str]:
    headers = {"authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=8)
    async with (
        httpx.AsyncClient(base_url=bases[0], headers=headers, timeout=60, limits=limits) as a,
        httpx.AsyncClient(base_url=bases[1], headers=headers, timeout=60, limits=limits) as b,
    ):
        gate = asyncio.Semaphore(8)

        async def one(number: int) -> str:
            client = (a, b)[number % 2]
            colour = (number % 256, number // 256, 7)
            upload = {"file": (f"{number}.png", png_bytes(24, 16, colour))}
            # (as the SDK does: one Idempotency-Key, sent again once if the connection broke,
            # e.g. a pooled connection the server closed as idle just as it was reused)
            once = {"idempotency-key": f"scale-out-{number}"}
            async with gate:
                try:
                    answer = await client.post("/files/upload", files=upload, headers=once)
                except httpx.TransportError:
                    answer = await client.post("/files/upload", files=upload, headers=once)
            assert answer.status_code == 201, answer.text
            return str(answer.json()["image_id"])

        return list(await asyncio.gather(*(one(n) for n in range(UPLOADS))))


async def _same_bytes_twice(bases: list[str], key: str, rounds: int) -> list[set[str]]:
    headers = {"authorization": f"Bearer {key}"}
    found = []
    async with (
        httpx.AsyncClient(base_url=bases[0], headers=headers, timeout=60) as a,
        httpx.AsyncClient(base_url=bases[1], headers=headers, timeout=60) as b,
    ):
        for number in range(rounds):
            data = png_bytes(9, 9, (number, 200, 100))
            answers = await asyncio.gather(
                *(
                    client.post(
                        "/files/upload",
                        files={"file": ("same.png", data)},
                        data={"skip_duplicates": "true"},
                    )
                    for client in (a, b)
                )
            )
            assert all(r.status_code == 201 for r in answers), [r.text for r in answers]
            found.append({r.json()["image_id"] for r in answers})
    return found


def test_two_apis_three_workers_one_killed(
    tmp_path: Path, backends: tuple[Postgres, S3Server]
) -> None:
    postgres, s3 = backends
    env = dict(os.environ)  # (conftest cleared the ambient settings; --backends scaled set its own)
    env.update(
        SCOPIX_SERVER_DATABASE_URL=postgres.url,
        SCOPIX_SERVER_STORAGE_URL="s3://scopix/files",
        SCOPIX_SERVER_S3_ENDPOINT_URL=s3.endpoint,
        SCOPIX_SERVER_S3_ACCESS_KEY_ID=s3.access_key,
        SCOPIX_SERVER_S3_SECRET_ACCESS_KEY=s3.secret_key,
        SCOPIX_SERVER_SIGNING_SECRET="one-secret-for-every-server",
        SCOPIX_SERVER_EMBEDDER="none",
        SCOPIX_SERVER_JOB_LEASE_SECONDS="3",
        SCOPIX_SERVER_RATE_LIMIT_PERIOD_SECONDS="1",
    )
    data_dirs = [tmp_path / f"node{n}" for n in range(5)]  # (no shared local folder)
    settings = Settings(data_dir=data_dirs[0], database_url=postgres.url)
    key = make_key(settings, tier="custom")
    ports = [free_port(), free_port()]
    workers = [_worker(data_dirs[2 + n], env) for n in range(3)]
    try:
        with (
            serve_process(data_dirs[0], ports[0], "--no-workers", **env),
            serve_process(data_dirs[1], ports[1], "--no-workers", **env),
        ):
            bases = [f"http://127.0.0.1:{port}/api/v2" for port in ports]
            ids = asyncio.run(_upload_all(bases, key))
            # one worker dies while it holds jobs
            deadline = time.monotonic() + 60
            while not asyncio.run(
                _rows(postgres.url, "SELECT 1 FROM procrastinate_jobs WHERE status = 'doing'")
            ):
                assert time.monotonic() < deadline, "no job ever ran"
                time.sleep(0.05)
            workers[0].send_signal(signal.SIGKILL)
            workers[0].communicate(timeout=10)
            pairs = asyncio.run(_same_bytes_twice(bases, key, rounds=5))
            assert all(len(pair) == 1 for pair in pairs), pairs  # one file per bytes
            with httpx.Client(
                base_url=bases[1], headers={"authorization": f"Bearer {key}"}, timeout=30
            ) as api:
                deadline = time.monotonic() + 240
                while True:
                    statuses = Counter(
                        asyncio.run(
                            _rows(
                                postgres.url,
                                "SELECT status FROM files WHERE deleted_at IS NULL",
                            )
                        )
                    )
                    if statuses == Counter({("completed",): UPLOADS + len(pairs)}):
                        break
                    assert time.monotonic() < deadline, statuses
                    time.sleep(0.5)
                listed = api.get("/files", params={"limit": 1}).json()
                assert listed["total_count"] == UPLOADS + len(pairs)
                assert api.get(f"/files/{ids[-1]}").json()["thumbnail_url"]  # (on S3)
                quota = api.get("/uploads/quota-check", params={"file_count": 1}).json()
                assert quota["current_usage"] == UPLOADS + len(pairs)  # duplicates not counted
    finally:
        errors = {}
        for process in workers:
            if process.returncode is None:
                process.terminate()
                errors[process.pid] = process.communicate(timeout=60)[1]
    assert all(p.returncode == 0 for p in workers[1:]), errors
    jobs = asyncio.run(
        _rows(
            postgres.url,
            "SELECT args->>'file_id', args->>'kind', status FROM procrastinate_jobs "
            "WHERE task_name = 'scopix.file_job'",
        )
    )
    per_file = Counter((file_id, kind) for file_id, kind, _ in jobs)
    assert set(per_file.values()) == {1}  # one job of each kind per file: none twice
    assert {status for _, _, status in jobs} == {"succeeded"}  # none lost, none failed
    assert {kind for _, kind in per_file} == {"process", "describe"}
    assert len(per_file) == 2 * (UPLOADS + len(pairs))
