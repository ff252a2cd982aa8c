"""SyncScopix: the async client's behaviour, without await, on a private event loop."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

import scopix
from scopix import ClientConfig, ResourceNotFoundError, ServerError, SyncScopix
from sdk_support import BASE_URL, VALID_KEY, error_body, json_response


def make_sync(handler, **options: object) -> tuple[SyncScopix, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    config = ClientConfig(api_key=VALID_KEY, base_url=BASE_URL, retry_delay=0, **options)
    return SyncScopix.from_config(config, transport=httpx.MockTransport(record)), seen


def test_request_returns_the_response() -> None:
    client, seen = make_sync(lambda r: json_response(200, {"n": 1}))
    with client:
        assert client.request("GET", "/files", params={"limit": 5}).json() == {"n": 1}
    assert str(seen[0].url) == f"{BASE_URL}/files?limit=5"
    assert seen[0].headers["Authorization"] == f"Bearer {VALID_KEY}"


def test_same_retries_and_errors_as_the_async_client() -> None:
    answers = iter([json_response(503, error_body("SERVICE_UNAVAILABLE", "x"))] * 2)
    client, seen = make_sync(lambda r: next(answers, json_response(200, {})))
    with client:
        assert client.request("POST", "/files/upload", content=b"x").status_code == 200
    assert len(seen) == 3
    assert len({r.headers["Idempotency-Key"] for r in seen}) == 1

    client, _ = make_sync(lambda r: json_response(404, error_body("NOT_FOUND", "gone")))
    with client, pytest.raises(ResourceNotFoundError, match="gone"):
        client.request("GET", "/files/x")


def test_errors_keep_their_class_after_retries_run_out() -> None:
    client, seen = make_sync(
        lambda r: json_response(500, error_body("SERVER_ERROR", "boom")), max_retries=1
    )
    with client, pytest.raises(ServerError):
        client.request("GET", "/files")
    assert len(seen) == 2


def test_correlation_id_follows_the_calling_thread() -> None:
    client, seen = make_sync(lambda r: json_response(200, {}))
    token = scopix.set_correlation_id("job-77")
    try:
        with client:
            client.request("GET", "/files")
    finally:
        token.var.reset(token)
    assert seen[0].headers["X-Correlation-ID"] == "job-77"


def test_shared_by_threads() -> None:
    client, seen = make_sync(lambda r: json_response(200, {"path": r.url.path}))
    with client, ThreadPoolExecutor(8) as pool:
        paths = list(
            pool.map(lambda i: client.request("GET", f"/files/{i}").json()["path"], range(40))
        )
    assert paths == [f"/api/v2/files/{i}" for i in range(40)]
    assert len(seen) == 40


def test_close_stops_the_loop_and_refuses_further_calls() -> None:
    client, _ = make_sync(lambda r: json_response(200, {}))
    loop_thread = client._loop._thread
    assert loop_thread.daemon and loop_thread.is_alive()
    client.close()
    assert client.is_closed
    assert not loop_thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        client.request("GET", "/files")
    client.close()  # twice is fine


def loop_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "scopix-sync-loop")


def test_loop_threads_do_not_pile_up() -> None:
    # (only the client's own threads count: threads of earlier tests may end meanwhile)
    before = loop_threads()
    for _ in range(5):
        with SyncScopix(VALID_KEY):
            assert loop_threads() == before + 1
    assert loop_threads() == before


def test_a_program_that_forgets_close_still_exits() -> None:
    code = f"from scopix import SyncScopix\nclient = SyncScopix({VALID_KEY!r})\nprint('done')\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
