"""``serve`` runs its workers in processes of their own: woken through their pipe, restarted
when they die or outgrow their memory bound, gone when the API process is gone."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from media_support import encode, text_image
from scopix_server.jobs.supervisor import descendants
from server_support import free_port, png_bytes, serve_process

pytestmark = pytest.mark.socket


def worker_pids(serve: subprocess.Popen[str]) -> list[int]:
    found = []
    for pid in descendants(serve.pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--supervised" in command:
            found.append(pid)
    return found


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # (a zombie: ended, not yet reaped by whoever adopted it)


def metric(root: str, name: str) -> float:
    text = httpx.get(f"{root}/metrics").text
    found = re.search(rf'^{name}{{slot="1"}} (\S+)$', text, re.MULTILINE)
    assert found, f"{name} missing from /metrics"
    return float(found.group(1))


def new_key(data_dir: Path) -> str:
    return subprocess.run(
        [sys.executable, "-m", "scopix_server", "keys", "create", "--data-dir", str(data_dir),
         "--tenant", "workers"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def completes(api: httpx.Client, content: bytes, name: str, timeout: float) -> float:
    """Upload ``content``; seconds until it is processed (fails past ``timeout``)."""
    started = time.monotonic()
    response = api.post("/files/upload", files={"file": (name, content)})
    assert response.status_code == 201, response.text
    file_id = response.json()["image_id"]
    wait_for(
        lambda: api.get(f"/files/{file_id}/status").json()["is_terminal"],
        timeout,
        f"{name} was not processed within {timeout} s",
    )
    assert api.get(f"/files/{file_id}/status").json()["status"] == "completed"
    return time.monotonic() - started


def test_serve_runs_the_jobs_in_a_worker_process_woken_at_once(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    key = new_key(data_dir)
    # idle workers would look for jobs once a minute: only the wake-up starts one sooner
    with (
        serve_process(
            data_dir, port, SCOPIX_SERVER_WORKERS="1", SCOPIX_SERVER_JOB_POLL_SECONDS="60",
            SCOPIX_SERVER_EMBEDDER="none",
        ) as serve,
        httpx.Client(
            base_url=f"http://127.0.0.1:{port}/api/v2",
            headers={"Authorization": f"Bearer {key}"},
        ) as api,
    ):  # fmt: skip
        wait_for(lambda: len(worker_pids(serve)) == 1, 20, "no worker process")
        (worker,) = worker_pids(serve)
        time.sleep(1.0)  # (its workers are idle, waiting)
        assert completes(api, png_bytes(64, 48), "a.png", timeout=20) < 20
        image, _ = text_image([("WORKER PROCESS", 40, 60)])
        assert completes(api, encode(image), "b.jpg", timeout=30) < 30
        root = f"http://127.0.0.1:{port}"
        assert metric(root, "scopix_worker_up") == 1.0
        assert metric(root, "scopix_worker_memory_bytes") > 20 * 2**20
        assert metric(root, "scopix_worker_restarts_total") == 0.0
        assert worker_pids(serve) == [worker]


def test_a_killed_worker_is_started_again_and_the_api_stays_up(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    key = new_key(data_dir)
    root = f"http://127.0.0.1:{port}"
    with (
        serve_process(
            data_dir, port, SCOPIX_SERVER_WORKERS="1", SCOPIX_SERVER_EMBEDDER="none"
        ) as serve,
        httpx.Client(base_url=f"{root}/api/v2", headers={"Authorization": f"Bearer {key}"}) as api,
    ):  # fmt: skip
        wait_for(lambda: len(worker_pids(serve)) == 1, 20, "no worker process")
        (first,) = worker_pids(serve)
        subprocess.run(["kill", "-KILL", str(first)], check=True)  # a decoder crashed it
        assert httpx.get(f"{root}/health").status_code == 200
        wait_for(
            lambda: worker_pids(serve) not in ([], [first]), 20, "the worker was not restarted"
        )
        assert metric(root, "scopix_worker_restarts_total") == 1.0
        assert completes(api, png_bytes(32, 32), "after.png", timeout=30) < 30
        assert serve.poll() is None


def test_a_worker_past_its_memory_bound_stops_and_is_started_again(tmp_path: Path) -> None:
    """The bound is set below what the search model alone takes: the worker sees it, stops
    (status 75) and is started again; the API answers throughout."""
    data_dir, port = tmp_path / "data", free_port()
    root = f"http://127.0.0.1:{port}"
    with serve_process(
        data_dir, port, SCOPIX_SERVER_WORKERS="1", SCOPIX_SERVER_EMBEDDER="minilm",
        SCOPIX_SERVER_WORKER_MEMORY_BYTES=str(128 * 2**20),
    ) as serve:  # fmt: skip
        wait_for(
            lambda: metric(root, "scopix_worker_memory_stops_total") >= 1,
            60,
            "the worker did not stop at its bound",
        )
        wait_for(
            lambda: metric(root, "scopix_worker_restarts_total") >= 1,
            20,
            "the worker was not started again",
        )
        assert httpx.get(f"{root}/ready").status_code == 200
        assert serve.poll() is None


def test_no_worker_outlives_its_api_process(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    with serve_process(
        data_dir, port, SCOPIX_SERVER_WORKERS="2", SCOPIX_SERVER_WORKER_PROCESSES="2",
        SCOPIX_SERVER_EMBEDDER="none",
    ) as serve:  # fmt: skip
        wait_for(lambda: len(worker_pids(serve)) == 2, 20, "no worker processes")
        workers = worker_pids(serve)
        serve.send_signal(signal.SIGKILL)  # the API process dies: its pipes close
        wait_for(lambda: all(gone(pid) for pid in workers), 30, "a worker outlived the API")


def test_a_worker_of_its_own_beside_an_api_only_server_on_sqlite(tmp_path: Path) -> None:
    """``serve --no-workers`` and ``scopix-server worker`` share one data folder: the worker
    runs the jobs the API queues (found by polling), and stops on SIGTERM with status 0."""
    data_dir, port = tmp_path / "data", free_port()
    key = new_key(data_dir)
    env = {**os.environ, "SCOPIX_SERVER_EMBEDDER": "none", "SCOPIX_SERVER_JOB_POLL_SECONDS": "0.2"}
    with (
        serve_process(data_dir, port, "--no-workers", SCOPIX_SERVER_EMBEDDER="none") as serve,
        httpx.Client(
            base_url=f"http://127.0.0.1:{port}/api/v2",
            headers={"Authorization": f"Bearer {key}"},
        ) as api,
    ):
        assert worker_pids(serve) == []
        worker = subprocess.Popen(
            [sys.executable, "-m", "scopix_server", "worker", "--data-dir", str(data_dir),
             "--concurrency", "1"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert completes(api, png_bytes(40, 30), "own.png", timeout=60) < 60
        finally:
            worker.send_signal(signal.SIGTERM)
            _, errors = worker.communicate(timeout=30)
        assert worker.returncode == 0, errors
        assert "1 jobs at a time on every queue" in errors
