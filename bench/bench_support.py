"""What the benchmarks share: a free port, waiting for a server, a key made with the real CLI."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
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
