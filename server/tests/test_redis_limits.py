"""Rate limits in Redis: two servers sharing one Redis share each key's budget."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scopix_server import Settings
from server_support import make_key, start_server

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run scripts/services (apt-get install)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def test_two_servers_share_one_budget(tmp_path: Path, redis_url: str) -> None:
    data_dir = tmp_path / "shared"  # one database: both servers serve the same tenants
    first = start_server(Settings(data_dir=data_dir, rate_limit_storage_url=redis_url))
    second = start_server(Settings(data_dir=data_dir, rate_limit_storage_url=redis_url))
    try:
        key = make_key(first.settings, tier="free")  # 10 requests a minute
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(headers=headers) as client:
            for i in range(10):
                server = first if i % 2 else second
                assert client.get(f"{server.base_url}/files").status_code == 200
            over = client.get(f"{first.base_url}/files")
            assert over.status_code == 429
            assert over.headers["X-RateLimit-Remaining"] == "0"
            assert client.get(f"{second.base_url}/files").status_code == 429
    finally:
        first.stop()
        second.stop()


def test_a_redis_url_without_the_client_library_is_a_clear_error() -> None:
    # a fresh interpreter: ``limits`` caches the client library once it has found it
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "from scopix_server.services.ratelimit import RateLimiter\n"
        "RateLimiter('redis://127.0.0.1:1')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "SCOPIX_SERVER_RATE_LIMIT_STORAGE_URL" in result.stderr
    assert "pip install 'scopix-server[redis]'" in result.stderr
