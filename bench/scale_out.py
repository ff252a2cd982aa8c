"""Scale-out: pipeline throughput with 1, 2 and 4 worker processes, on the distributed path
(PostgreSQL + S3 + Procrastinate) and on the embedded default (SQLite + a folder), and the
enqueue-to-start latency of a job on both.

    .venv/bin/python bench/scale_out.py [--images 24] [--megapixels 1.0] [--workers 1,2,4]

Workload: photo-like JPEGs with a sign of text (decoding, four variants, OCR, the basic
description, MiniLM search vectors: three jobs a file). For each worker count ``n``:

- distributed: one ``serve --no-workers`` and ``n`` ``scopix-server worker --concurrency 1``
  processes on one PostgreSQL (the tests' bundled server, pgvector) and one ``rclone serve s3``;
- embedded: ``serve`` with ``n`` worker processes of one job each, on SQLite and a folder.

The workers are started and idle before the clock starts; the clock runs from the first upload
to the moment every file is processed (the database polled every 0.1 s). The two paths run
alternately, each on a fresh tenant. Printed: files per second, the scaling efficiency of ``n``
workers (throughput / (n x the one-worker throughput); target >= 0.8 up to the core count), the
distributed/embedded throughput ratio, and the enqueue-to-start latency (from the upload's
answer until its first job is no longer waiting; 20 uploads to idle workers, one at a time).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from bench_support import VENV_BIN, create_key, free_port
from PIL import Image, ImageDraw, ImageFilter, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server" / "tests"))
from scopix_server.jobs.procrastinate_queue import conninfo
from server_support import start_postgres, start_s3

WORDS = ["HARBOUR", "MARKET", "STATION", "LIBRARY", "GARDEN", "MUSEUM", "BRIDGE", "CASTLE"]
DONE = (
    "SELECT count(*) FROM files WHERE tenant_id = {p} AND status IN ('completed', 'failed') "
    "AND variant_status IN ('completed', 'failed', 'skipped') "
    "AND description_status IN ('completed', 'failed', 'skipped') "
    "AND embedding_status IN ('completed', 'failed', 'skipped')"
)
TENANT = "SELECT tenant_id FROM files WHERE id = {p}"
EMBEDDED_STARTED = "SELECT count(*) FROM jobs WHERE file_id = {p} AND state <> 'queued'"
PROCRASTINATE_STARTED = (
    "SELECT count(*) FROM procrastinate_jobs WHERE args->>'file_id' = {p} AND status <> 'todo'"
)


def photo(number: int, megapixels: float) -> bytes:
    rng = random.Random(number)
    width = int((megapixels * 1_000_000 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    small = Image.new("RGB", (32, 24))
    small.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(32 * 24)])
    image = small.resize((width, height), Image.Resampling.BICUBIC).filter(
        ImageFilter.GaussianBlur(6)
    )
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(16, height // 12))
    text = f"{WORDS[number % len(WORDS)]} {number}"
    box = draw.textbbox((width // 8, height // 3), text, font=font)
    draw.rectangle((box[0] - 20, box[1] - 20, box[2] + 20, box[3] + 20), fill=(250, 250, 245))
    draw.text((width // 8, height // 3), text, fill=(15, 15, 15), font=font)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


class Deployment:
    """What a run needs of a deployment: its API, a query on its database, and its workers."""

    def __init__(self, name: str, data_dir: Path, env: dict[str, str]) -> None:
        self.name, self.data_dir, self.env = name, data_dir, env
        self.port = free_port()

    def query(self, sql: str, *args: str) -> Any:
        """The first column of the first row of ``sql`` (``{p}``: the placeholder)."""
        raise NotImplementedError

    def started(self, file_id: str) -> bool:
        raise NotImplementedError

    @contextmanager
    def running(self, workers: int) -> Iterator[httpx.Client]:
        raise NotImplementedError

    def serve(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [str(VENV_BIN / "scopix-server"), "serve", "--data-dir", str(self.data_dir),
             "--port", str(self.port), "--log-level", "warning", *args],
            env={**self.env, **env}, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(600):
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/ready", timeout=1)
                return process
            except httpx.TransportError:
                assert process.poll() is None, "the server exited at start"
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def client(self, tenant: str) -> httpx.Client:
        key = subprocess.run(
            [str(VENV_BIN / "scopix-server"), "keys", "create", "--data-dir", str(self.data_dir),
             "--tenant", tenant, "--tier", "custom"],
            check=True, capture_output=True, text=True, env=self.env,
        ).stdout.strip()  # fmt: skip
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}/api/v2",
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        )


class Embedded(Deployment):
    def query(self, sql: str, *args: str) -> Any:
        with sqlite3.connect(self.data_dir / "scopix.db", timeout=30) as db:
            row = db.execute(sql.format(p="?"), args).fetchone()
        return row[0] if row else None

    def started(self, file_id: str) -> bool:
        return bool(self.query(EMBEDDED_STARTED, file_id))

    @contextmanager
    def running(self, workers: int) -> Iterator[httpx.Client]:
        process = self.serve(
            SCOPIX_SERVER_WORKERS=str(workers), SCOPIX_SERVER_WORKER_PROCESSES=str(workers)
        )
        try:
            wait_workers(lambda: count_workers(process.pid), workers)
            yield self.client(f"embedded-{workers}-{time.monotonic_ns()}")
        finally:
            process.terminate()
            process.wait(timeout=60)


class Distributed(Deployment):
    def __init__(self, name: str, data_dir: Path, env: dict[str, str], database: str) -> None:
        super().__init__(name, data_dir, env)
        self._conninfo = conninfo(database)

    def query(self, sql: str, *args: str) -> Any:
        with psycopg.connect(self._conninfo, autocommit=True) as db:
            row = db.execute(sql.format(p="%s"), args).fetchone()  # type: ignore[call-overload]
        return row[0] if row else None

    def started(self, file_id: str) -> bool:
        return bool(self.query(PROCRASTINATE_STARTED, file_id))

    @contextmanager
    def running(self, workers: int) -> Iterator[httpx.Client]:
        api = self.serve("--no-workers")
        started = [
            subprocess.Popen(
                [str(VENV_BIN / "scopix-server"), "worker", "--data-dir",
                 str(self.data_dir / f"worker{n}"), "--concurrency", "1", "--log-level", "info"],
                env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )
            for n in range(workers)
        ]  # fmt: skip
        try:
            for process in started:  # ready once it says how many jobs it runs at a time
                for line in process.stderr or []:
                    if "jobs at a time" in line:
                        break
                else:
                    raise RuntimeError("a worker exited at start")
                threading.Thread(target=process.communicate, daemon=True).start()  # (drained)
            yield self.client(f"distributed-{workers}-{time.monotonic_ns()}")
        finally:
            for each in [*started, api]:
                each.terminate()
            for each in [*started, api]:
                each.wait(timeout=60)


def count_workers(pid: int) -> int:
    from scopix_server.jobs.supervisor import descendants

    found = 0
    for child in descendants(pid):
        try:
            if b"--supervised" in Path(f"/proc/{child}/cmdline").read_bytes():
                found += 1
        except OSError:
            pass
    return found


def wait_workers(count: Callable[[], int], workers: int) -> None:
    deadline = time.monotonic() + 120
    while count() < workers:
        assert time.monotonic() < deadline, "the worker processes did not start"
        time.sleep(0.1)
    time.sleep(3.0)  # (each loads its models before it takes a job)


def throughput(deployment: Deployment, workers: int, images: list[bytes]) -> float:
    """Files per second from the first upload until every file is processed."""
    with deployment.running(workers) as api:
        started = time.monotonic()

        def upload(number: int) -> str:
            response = api.post(
                "/files/upload", files={"file": (f"{number}.jpg", images[number], "image/jpeg")}
            )
            assert response.status_code == 201, response.text
            return str(response.json()["image_id"])

        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(upload, range(len(images))))
        tenant = str(deployment.query(TENANT, ids[0]))
        while deployment.query(DONE, tenant) < len(ids):
            assert time.monotonic() - started < 1800, "the workload did not finish"
            time.sleep(0.1)
        return len(ids) / (time.monotonic() - started)


def latency(deployment: Deployment, image: bytes, rounds: int) -> list[float]:
    """Seconds from an upload's answer until its first job leaves the queue (idle workers)."""
    found = []
    with deployment.running(1) as api:
        for number in range(rounds):
            response = api.post("/files/upload", files={"file": (f"l{number}.png", image)})
            answered = time.monotonic()
            file_id = response.json()["image_id"]
            while not deployment.started(file_id):
                assert time.monotonic() - answered < 60, "a job did not start"
                time.sleep(0.002)
            found.append(time.monotonic() - answered)
            time.sleep(1.5)  # (its three jobs are done: the workers are idle again)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--latency-rounds", type=int, default=20)
    options = parser.parse_args()
    counts = [int(n) for n in options.workers.split(",")]
    images = [photo(n, options.megapixels) for n in range(options.images)]
    small = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(small, "PNG")
    print(
        f"{options.images} photos of {options.megapixels} MP with text; "
        f"{os.cpu_count()} CPUs; workers of one job each"
    )
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        postgres = start_postgres()
        s3 = start_s3(root / "s3", "scopix")
        try:
            base = {k: v for k, v in os.environ.items() if not k.startswith("SCOPIX_")}
            base.update(SCOPIX_SERVER_RATE_LIMIT_PERIOD_SECONDS="1")
            embedded = Embedded("embedded", root / "embedded", base)
            distributed = Distributed(
                "distributed",
                root / "distributed",
                {
                    **base,
                    "SCOPIX_SERVER_DATABASE_URL": postgres.url,
                    "SCOPIX_SERVER_STORAGE_URL": "s3://scopix/files",
                    "SCOPIX_SERVER_S3_ENDPOINT_URL": s3.endpoint,
                    "SCOPIX_SERVER_S3_ACCESS_KEY_ID": s3.access_key,
                    "SCOPIX_SERVER_S3_SECRET_ACCESS_KEY": s3.secret_key,
                    "SCOPIX_SERVER_SIGNING_SECRET": "bench",
                },
                postgres.url,
            )
            create_key(embedded.data_dir)  # (creates both databases before the clock)
            distributed.client("warm-up").close()
            rates: dict[tuple[str, int], float] = {}
            for turn, workers in enumerate(counts):
                pair = (embedded, distributed) if turn % 2 == 0 else (distributed, embedded)
                for deployment in pair:
                    rate = throughput(deployment, workers, images)
                    rates[deployment.name, workers] = rate
                    print(f"  {deployment.name:11s} {workers} workers: {rate:5.2f} files/s")
            print("\nworkers  embedded  eff.   distributed  eff.   distributed/embedded")
            for workers in counts:
                line = f"{workers:7d}"
                for name in ("embedded", "distributed"):
                    rate = rates[name, workers]
                    line += f"  {rate:8.2f}  {rate / (workers * rates[name, counts[0]]):4.2f}"
                print(f"{line}   {rates['distributed', workers] / rates['embedded', workers]:6.2f}")
            cores = os.cpu_count() or 1
            within = [n for n in counts if n <= cores]
            worst = min(
                rates[name, n] / (n * rates[name, counts[0]])
                for name in ("embedded", "distributed")
                for n in within
            )
            print(
                f"scaling efficiency up to the core count ({cores}): worst {worst:.2f} "
                f"(target >= 0.8: {'pass' if worst >= 0.8 else 'FAIL'}); more workers than "
                "cores share them"
            )
            print("\nenqueue-to-start latency (ms), one idle worker:")
            for deployment in (embedded, distributed):
                seconds = sorted(latency(deployment, small.getvalue(), options.latency_rounds))
                p95 = seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))]
                print(
                    f"  {deployment.name:11s} median {statistics.median(seconds) * 1000:6.1f}"
                    f"  p95 {p95 * 1000:6.1f}  max {seconds[-1] * 1000:6.1f}"
                )
        finally:
            s3.stop()
            postgres.stop()


if __name__ == "__main__":
    main()
