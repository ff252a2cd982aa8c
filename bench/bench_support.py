"""What the benchmarks share: a free port, a key made with the real CLI, ``scopix-server serve``
and ``rclone serve s3`` run for the length of a ``with`` block."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def create_key(data_dir: Path, tenant: str = "bench") -> str:
    """A new API key from ``scopix-server keys create`` (which also creates the database)."""
    return subprocess.run(
        [str(VENV_BIN / "scopix-server"), "keys", "create", "--data-dir", str(data_dir),
         "--tenant", tenant],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    """Return once something answers HTTP on ``port``; raise if ``process`` exits first."""
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError("a server exited at start")
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("a server did not start")


@dataclass(frozen=True)
class Served:
    root: str  # http://127.0.0.1:<port>
    key: str  # a new API key of the tenant "bench"
    process: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        return f"{self.root}/api/v2"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@contextmanager
def scopix_server(data_dir: Path, env: Mapping[str, str] | None = None) -> Iterator[Served]:
    """``scopix-server serve`` over ``data_dir`` on a free port, with ``SCOPIX_SERVER_*``
    settings from ``env``; answering when the block starts, stopped when it ends."""
    key = create_key(data_dir)
    port = free_port()
    server = subprocess.Popen(
        [str(VENV_BIN / "scopix-server"), "serve", "--data-dir", str(data_dir),
         "--port", str(port), "--log-level", "warning"],
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    with _stopped_after(server):
        wait_for_port(port, server)
        yield Served(f"http://127.0.0.1:{port}", key, server)


@contextmanager
def s3_server(folder: Path, bucket: str = "bench") -> Iterator[str]:
    """``rclone serve s3`` (SigV4, keys ``bench``/``bench-secret``) over ``folder`` with an
    empty ``bucket``; yields its endpoint URL."""
    (folder / bucket).mkdir(parents=True, exist_ok=True)
    port = free_port()
    rclone = subprocess.Popen(
        [str(VENV_BIN / "rclone"), "serve", "s3", "--addr", f"127.0.0.1:{port}",
         "--auth-key", "bench,bench-secret", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    with _stopped_after(rclone):
        wait_for_port(port, rclone)
        yield f"http://127.0.0.1:{port}"


@contextmanager
def _stopped_after(process: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
