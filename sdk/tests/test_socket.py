"""The client against a real HTTP server on a loopback socket (no mocks in between).

The server records when each attempt arrives, so the retry count, the doubling delays and the
honoured ``Retry-After`` are measured from the outside.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scopix import (
    ClientConfig,
    RateLimitError,
    Scopix,
    ScopixConnectionError,
    ScopixTimeoutError,
    SyncScopix,
)
from sdk_support import VALID_KEY

pytestmark = [pytest.mark.anyio, pytest.mark.socket]


@dataclass
class Arrival:
    at: float
    path: str
    headers: dict[str, str]
    body_sha256: str = ""


@dataclass
class Script:
    """What the server answers: a list of (status, headers, delay) per path, then 200."""

    answers: dict[str, list[tuple[int, dict[str, str], float]]] = field(default_factory=dict)
    arrivals: list[Arrival] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self, path: str) -> tuple[int, dict[str, str], float]:
        with self.lock:
            queue = self.answers.get(path, [])
            return queue.pop(0) if queue else (200, {}, 0.0)


class Handler(BaseHTTPRequestHandler):
    script: Script

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        self.script.arrivals.append(
            Arrival(
                at=time.monotonic(),
                path=path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body_sha256=hashlib.sha256(body).hexdigest(),
            )
        )
        status, headers, delay = self.script.next_answer(path)
        if delay:
            time.sleep(delay)
        if status == 200:
            payload = {"ok": True, "attempts": len(self.script.arrivals)}
        else:
            code = {429: "RATE_LIMITED", 503: "SERVICE_UNAVAILABLE"}.get(status, "SERVER_ERROR")
            payload = {
                "error": {"code": code, "message": "not now", "details": {}},
                "request_id": "srv_req",
            }
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        # the client may have given up already (timeout tests)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    do_GET = _handle
    do_POST = _handle


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()
    handler = type("ScriptedHandler", (Handler,), {"script": script})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    host, port = httpd.server_address[:2]
    try:
        yield f"http://{host}:{port}/api/v2", script
    finally:
        httpd.shutdown()
        httpd.server_close()


def gaps(arrivals: list[Arrival]) -> list[float]:
    return [b.at - a.at for a, b in itertools.pairwise(arrivals)]


async def test_two_503s_then_success_with_doubling_delays(server: tuple[str, Script]) -> None:
    base_url, script = server
    script.answers["/api/v2/files"] = [(503, {}, 0.0), (503, {}, 0.0)]
    async with Scopix(VALID_KEY, base_url=base_url, retry_delay=0.2) as client:
        response = await client.request("GET", "/files")
    assert response.json() == {"ok": True, "attempts": 3}
    assert len(script.arrivals) == 3  # one request + two retries
    first, second = gaps(script.arrivals)
    # delays: 0.2 s, then 0.4 s (+ up to 10 % jitter + loopback overhead)
    assert 0.2 <= first < 0.2 * 1.1 + 0.25
    assert 0.4 <= second < 0.4 * 1.1 + 0.25
    assert 1.5 < second / first < 2.5
    ids = {a.headers["x-request-id"] for a in script.arrivals}
    assert len(ids) == 3  # each attempt is its own request
    assert len({a.headers["x-correlation-id"] for a in script.arrivals}) == 1


async def test_retry_after_is_honoured_over_the_backoff(server: tuple[str, Script]) -> None:
    base_url, script = server
    script.answers["/api/v2/files"] = [(429, {"Retry-After": "1"}, 0.0)]
    async with Scopix(VALID_KEY, base_url=base_url, retry_delay=0.05) as client:
        response = await client.request("GET", "/files")
    assert response.status_code == 200
    (gap,) = gaps(script.arrivals)
    assert 1.0 <= gap < 1.6  # the server's 1 s, not the client's 0.05 s


async def test_rate_limit_raised_when_retries_run_out(server: tuple[str, Script]) -> None:
    base_url, script = server
    script.answers["/api/v2/files"] = [(429, {"Retry-After": "0"}, 0.0)] * 3
    async with Scopix(VALID_KEY, base_url=base_url, max_retries=2) as client:
        with pytest.raises(RateLimitError) as info:
            await client.request("GET", "/files")
    assert info.value.retry_after == 0.0
    assert info.value.request_id == "srv_req"
    assert len(script.arrivals) == 3


async def test_upload_retried_after_503_resends_the_body_with_one_key(
    server: tuple[str, Script],
) -> None:
    base_url, script = server
    script.answers["/api/v2/files/upload"] = [(503, {}, 0.0)]
    payload = bytes(range(256)) * 4096  # 1 MiB
    async with Scopix(VALID_KEY, base_url=base_url, retry_delay=0.01) as client:
        await client.request(
            "POST", "/files/upload", content=payload, headers={"Content-Type": "image/png"}
        )
    first, second = script.arrivals
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.body_sha256 == second.body_sha256 == hashlib.sha256(payload).hexdigest()


async def test_a_slow_server_times_out(server: tuple[str, Script]) -> None:
    base_url, script = server
    script.answers["/api/v2/slow"] = [(200, {}, 1.5), (200, {}, 1.5)]
    async with Scopix(
        VALID_KEY, base_url=base_url, timeout=0.3, retry_delay=0.01, max_retries=1
    ) as client:
        started = time.monotonic()
        with pytest.raises(ScopixTimeoutError, match="timed out"):
            await client.request("GET", "/slow")
    assert len(script.arrivals) == 2
    assert time.monotonic() - started < 1.5  # gave up without waiting for the server


async def test_a_closed_port_is_a_connection_error() -> None:
    with socket.socket() as probe:  # find a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = ClientConfig(
        api_key=VALID_KEY,
        base_url=f"http://127.0.0.1:{port}/api/v2",
        max_retries=2,
        retry_delay=0.01,
    )
    async with Scopix.from_config(config) as client:
        with pytest.raises(ScopixConnectionError) as info:
            await client.request("GET", "/files")
    assert f"127.0.0.1:{port}" in info.value.message


async def test_requests_go_through_the_proxy(server: tuple[str, Script]) -> None:
    proxy_base, script = server  # the scripted server plays the proxy
    proxy_url = proxy_base.removesuffix("/api/v2")
    async with Scopix(VALID_KEY, base_url="http://localhost:9/api/v2", proxy_url=proxy_url) as c:
        response = await c.request("GET", "/files")
    assert response.json()["ok"] is True
    (arrival,) = script.arrivals
    # a proxy receives the absolute URL of the target in the request line
    assert arrival.path == "http://localhost:9/api/v2/files"
    assert arrival.headers["authorization"] == f"Bearer {VALID_KEY}"


def test_sync_client_over_a_socket(server: tuple[str, Script]) -> None:
    base_url, script = server
    script.answers["/api/v2/files"] = [(503, {}, 0.0)]
    with SyncScopix(VALID_KEY, base_url=base_url, retry_delay=0.01) as client:
        assert client.request("GET", "/files").json()["attempts"] == 2
