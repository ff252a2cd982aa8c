"""`scopix-server serve` / `python -m scopix_server serve` as a real process, from nothing."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.embedded
def test_python_dash_m_serve_creates_everything_on_first_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"  # does not exist yet
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "scopix_server", "serve", "--data-dir", str(data_dir),
         "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert ready.status_code == 200
        assert (data_dir / "scopix.db").is_file()
        assert (data_dir / "storage" / "objects").is_dir()
        assert (data_dir / "signing.key").stat().st_mode & 0o077 == 0  # private to the owner
        huge = httpx.get(
            f"http://127.0.0.1:{port}/api/v2/files", headers={"X-Filler": "x" * 200_000}
        )
        assert 400 <= huge.status_code < 500  # refused by the HTTP layer, never a 500
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=15)
    assert f"http://127.0.0.1:{port}/api/v2" in out


def test_cli_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scopix_server", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for command in ("serve", "keys"):
        assert command in result.stdout
