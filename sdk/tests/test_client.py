"""Scopix over httpx.MockTransport: headers, retries, the circuit breaker, closing, logging."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import httpx
import pytest

import scopix
from scopix import (
    AuthenticationError,
    CircuitBreakerError,
    ClientConfig,
    RateLimitError,
    ResourceNotFoundError,
    Scopix,
    ScopixConnectionError,
    ScopixError,
    ScopixTimeoutError,
    ServerError,
    ValidationError,
)
from sdk_support import BASE_URL, VALID_KEY, Recorder, error_body, json_response

pytestmark = pytest.mark.anyio

MakeClient = Callable[..., Scopix]


def ok_response() -> httpx.Response:
    return json_response(200, {"ok": True}, **{"X-Request-ID": "srv_1"})


def ok(request: httpx.Request) -> httpx.Response:
    return ok_response()


def sequence(*responses: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    """A handler that plays the given answers in order (an exception is raised, not returned)."""
    answers: Iterator[httpx.Response | Exception] = iter(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler


def server_error(status: int = 503, **headers: str) -> httpx.Response:
    return json_response(status, error_body("SERVICE_UNAVAILABLE", "try later"), **headers)


# --- requests and headers ---


async def test_request_goes_to_base_url_with_auth_and_identity_headers(
    make_client: MakeClient, recorder: Recorder
) -> None:
    async with make_client(ok, tenant_id="acme") as client:
        response = await client.request("GET", "/uploads/quota-check", params={"file_count": 2})
    assert response.json() == {"ok": True}
    (request,) = recorder.requests
    assert str(request.url) == f"{BASE_URL}/uploads/quota-check?file_count=2"
    assert request.headers["Authorization"] == f"Bearer {VALID_KEY}"
    assert request.headers["X-Tenant-ID"] == "acme"
    assert request.headers["X-Request-ID"].startswith("req_")
    assert len(request.headers["X-Correlation-ID"]) == 32
    assert request.headers["User-Agent"].startswith(f"scopix-python/{scopix.__version__} ")
    assert request.headers["Accept"] == "application/json"
    assert "Idempotency-Key" not in request.headers  # GET needs none
    assert "traceparent" not in request.headers  # tracing is off by default


async def test_path_without_leading_slash_and_absolute_urls(
    make_client: MakeClient, recorder: Recorder
) -> None:
    async with make_client(ok) as client:
        await client.request("GET", "files")
        with pytest.raises(ValueError, match="relative to base_url"):
            await client.request("GET", "https://elsewhere.test/steal")
    assert str(recorder.requests[0].url) == f"{BASE_URL}/files"


async def test_identity_headers_can_be_switched_off(
    make_client: MakeClient, recorder: Recorder
) -> None:
    async with make_client(ok, send_request_id=False, send_correlation_id=False) as client:
        await client.request("GET", "/files")
    headers = recorder.requests[0].headers
    assert "X-Request-ID" not in headers and "X-Correlation-ID" not in headers


async def test_correlation_id_from_context(make_client: MakeClient, recorder: Recorder) -> None:
    token = scopix.set_correlation_id("order-1234")
    try:
        async with make_client(ok) as client:
            await client.request("GET", "/files")
    finally:
        token.var.reset(token)
    assert recorder.requests[0].headers["X-Correlation-ID"] == "order-1234"


async def test_caller_headers_are_added(make_client: MakeClient, recorder: Recorder) -> None:
    async with make_client(ok) as client:
        await client.request("GET", "/files", headers={"X-Custom": "1"})
    assert recorder.requests[0].headers["X-Custom"] == "1"


# --- retries ---


async def test_server_errors_are_retried_with_doubling_delays(
    make_client: MakeClient, recorder: Recorder
) -> None:
    handler = sequence(server_error(), server_error(), server_error(500), ok_response())
    async with make_client(handler) as client:
        response = await client.request("GET", "/files")
    assert response.status_code == 200
    assert len(recorder.requests) == 4
    assert [round(d / 2**i, 6) >= 1.0 for i, d in enumerate(recorder.sleeps)] == [True] * 3
    first, second, third = recorder.sleeps
    assert 1.0 <= first <= 1.1 and 2.0 <= second <= 2.2 and 4.0 <= third <= 4.4


async def test_each_attempt_has_its_own_request_id_but_one_correlation_id(
    make_client: MakeClient, recorder: Recorder
) -> None:
    async with make_client(sequence(server_error(), ok_response())) as client:
        await client.request("GET", "/files")
    first, second = recorder.requests
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    assert first.headers["X-Correlation-ID"] == second.headers["X-Correlation-ID"]


async def test_retries_run_out_and_the_last_error_is_raised(
    make_client: MakeClient, recorder: Recorder
) -> None:
    async with make_client(lambda r: server_error(), max_retries=2) as client:
        with pytest.raises(ServerError) as info:
            await client.request("GET", "/files")
    assert len(recorder.requests) == 3
    assert info.value.status_code == 503 and info.value.code == "SERVICE_UNAVAILABLE"


async def test_max_retries_zero_fails_at_once(make_client: MakeClient, recorder: Recorder) -> None:
    async with make_client(lambda r: server_error(), max_retries=0) as client:
        with pytest.raises(ServerError):
            await client.request("GET", "/files")
    assert len(recorder.requests) == 1 and recorder.sleeps == []


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "VALIDATION_ERROR", ValidationError),
        (401, "AUTH_ERROR", AuthenticationError),
        (404, "NOT_FOUND", ResourceNotFoundError),
        (409, "CONFLICT", ScopixError),
        (413, "FILE_TOO_LARGE", ValidationError),
    ],
)
async def test_other_client_errors_are_never_retried(
    make_client: MakeClient, recorder: Recorder, status: int, code: str, error: type
) -> None:
    handler = sequence(json_response(status, error_body(code, "no")))
    async with make_client(handler) as client:
        with pytest.raises(error) as info:
            await client.request("POST", "/files/upload", content=b"x")
    assert type(info.value) is error
    assert len(recorder.requests) == 1


async def test_retry_after_overrides_the_backoff(
    make_client: MakeClient, recorder: Recorder
) -> None:
    limited = json_response(429, error_body("RATE_LIMITED", "slow"), **{"Retry-After": "7"})
    async with make_client(sequence(limited, ok_response())) as client:
        await client.request("GET", "/files")
    assert recorder.sleeps == [7.0]


async def test_retry_after_on_503_is_honoured_too(
    make_client: MakeClient, recorder: Recorder
) -> None:
    handler = sequence(server_error(**{"Retry-After": "2"}), ok_response())
    async with make_client(handler) as client:
        await client.request("GET", "/files")
    assert recorder.sleeps == [2.0]


@pytest.mark.parametrize(("said", "attempts"), [("false", 1), ("False ", 1), ("true", 2)])
async def test_a_server_that_says_a_retry_would_fail_alike_is_believed(
    make_client: MakeClient, recorder: Recorder, said: str, attempts: int
) -> None:
    """``X-Should-Retry: false`` on a 503 (a chat turn that spent its budget, say): raised at
    once, the work not done again; any other value leaves the usual policy."""
    refused = server_error(**{"X-Should-Retry": said})
    async with make_client(sequence(refused, ok_response())) as client:
        if attempts == 1:
            with pytest.raises(ServerError):
                await client.request("POST", "/chat/sessions/s/messages", json={"message": "?"})
        else:
            await client.request("POST", "/chat/sessions/s/messages", json={"message": "?"})
    assert len(recorder.requests) == attempts


async def test_a_long_retry_after_is_raised_not_slept(
    make_client: MakeClient, recorder: Recorder
) -> None:
    limited = json_response(429, error_body("RATE_LIMITED", "slow"), **{"Retry-After": "3600"})
    async with make_client(sequence(limited)) as client:
        with pytest.raises(RateLimitError) as info:
            await client.request("GET", "/files")
    assert info.value.retry_after == 3600.0
    assert recorder.sleeps == []


async def test_connection_errors_are_retried_then_raised(
    make_client: MakeClient, recorder: Recorder
) -> None:
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    async with make_client(sequence(refused, refused, refused), max_retries=2) as client:
        with pytest.raises(ScopixConnectionError) as info:
            await client.request("GET", "/files")
    assert "Connection refused" in info.value.message
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(recorder.requests) == 3


async def test_timeouts_are_retried_then_raised(
    make_client: MakeClient, recorder: Recorder
) -> None:
    slow = httpx.ReadTimeout("timed out")
    async with make_client(sequence(slow, slow), max_retries=1) as client:
        with pytest.raises(ScopixTimeoutError, match="timed out"):
            await client.request("GET", "/files")
    assert len(recorder.requests) == 2


async def test_post_keeps_one_idempotency_key_across_retries(
    make_client: MakeClient, recorder: Recorder
) -> None:
    handler = sequence(server_error(), server_error(), json_response(201, {"image_id": "f1"}))
    async with make_client(handler) as client:
        await client.request(
            "POST", "/files/upload", files={"file": ("a.png", b"\x89PNG data", "image/png")}
        )
    keys = {r.headers["Idempotency-Key"] for r in recorder.requests}
    assert len(recorder.requests) == 3 and len(keys) == 1
    # every attempt sends the whole file again (only the multipart boundary differs)
    assert all(b"\x89PNG data\r\n--" in r.content for r in recorder.requests)
    assert len({len(r.content) for r in recorder.requests}) == 1


async def test_two_logical_posts_get_different_keys(
    make_client: MakeClient, recorder: Recorder
) -> None:
    async with make_client(lambda r: json_response(201, {})) as client:
        await client.request("POST", "/files/upload", content=b"a")
        await client.request("POST", "/files/upload", content=b"a")
        await client.request("POST", "/files/upload", content=b"a", idempotency_key="mine-1")
    keys = [r.headers["Idempotency-Key"] for r in recorder.requests]
    assert keys[0] != keys[1] and keys[2] == "mine-1"


async def test_per_request_timeout(make_client: MakeClient, recorder: Recorder) -> None:
    async with make_client(ok, timeout=30.0) as client:
        await client.request("GET", "/a")
        await client.request("GET", "/b", timeout=2.5)
        await client.request("GET", "/c", timeout=None)
    timeouts = [r.extensions["timeout"] for r in recorder.requests]
    assert timeouts[0]["read"] == 30.0
    assert timeouts[1] == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}
    assert timeouts[2]["read"] is None


# --- circuit breaker ---


async def test_breaker_opens_across_requests_and_fails_fast(
    make_client: MakeClient, recorder: Recorder
) -> None:
    async with make_client(
        lambda r: server_error(), max_retries=1, circuit_breaker_failure_threshold=3
    ) as client:
        with pytest.raises(ServerError):
            await client.request("GET", "/files")  # 2 failures
        with pytest.raises(CircuitBreakerError) as info:
            await client.request("GET", "/files")  # 3rd failure opens it; the retry fails fast
        sent = len(recorder.requests)
        with pytest.raises(CircuitBreakerError):
            await client.request("GET", "/files")  # nothing is sent while open
    assert sent == 3 and len(recorder.requests) == 3
    assert isinstance(info.value.__cause__, ServerError)
    assert info.value.endpoint == "https://api.test"
    assert 0 < info.value.retry_after <= 30.0


async def test_client_errors_do_not_trip_the_breaker(
    make_client: MakeClient, recorder: Recorder
) -> None:
    not_found = json_response(404, error_body("NOT_FOUND", "no"))
    async with make_client(lambda r: not_found, circuit_breaker_failure_threshold=1) as client:
        for _ in range(3):
            with pytest.raises(ResourceNotFoundError):
                await client.request("GET", "/files/x")
    assert len(recorder.requests) == 3


async def test_breaker_can_be_disabled(make_client: MakeClient, recorder: Recorder) -> None:
    async with make_client(
        lambda r: server_error(),
        max_retries=0,
        circuit_breaker_enabled=False,
        circuit_breaker_failure_threshold=1,
    ) as client:
        for _ in range(3):
            with pytest.raises(ServerError):
                await client.request("GET", "/files")
    assert len(recorder.requests) == 3


# --- lifecycle ---


async def test_context_manager_closes_the_connections() -> None:
    async with Scopix(VALID_KEY) as client:
        assert not client.is_closed
    assert client.is_closed
    assert client._core.http.is_closed
    with pytest.raises(RuntimeError, match="client is closed"):
        await client.request("GET", "/files")
    await client.aclose()  # closing twice is fine


async def test_a_borrowed_http_client_is_not_closed() -> None:
    transport = httpx.MockTransport(ok)
    async with httpx.AsyncClient(transport=transport) as http:
        config = ClientConfig(api_key=VALID_KEY, base_url=BASE_URL)
        async with Scopix.from_config(config, http_client=http) as client:
            response = await client.request("GET", "/files")
        assert response.status_code == 200
        assert not http.is_closed


async def test_http2_is_enabled_when_h2_is_installed() -> None:
    async with Scopix(VALID_KEY) as client:
        pool = client._core.http._transport._pool  # type: ignore[attr-defined]
        assert pool._http2 is True  # negotiated per connection (ALPN); HTTP/1.1 otherwise


# --- logging ---


async def test_logging_never_shows_the_key(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="scopix")
    handler = sequence(
        server_error(),
        json_response(401, error_body("AUTH_ERROR", "revoked key")),
        ok_response(),
    )
    async with make_client(handler) as client:
        with pytest.raises(AuthenticationError):
            await client.request("POST", "/files/upload", content=b"x")
        await client.request("GET", "/files")
        text = caplog.text + repr(client) + repr(client.config)
    assert VALID_KEY not in text
    assert "retry 1/3" in caplog.text
    assert "GET https://api.test/api/v2/files -> 200" in caplog.text
    assert all(record.name == "scopix" for record in caplog.records)


async def test_enable_logging_false_is_silent(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="scopix")
    async with make_client(sequence(server_error(), ok_response()), enable_logging=False) as client:
        await client.request("GET", "/files")
    assert caplog.records == []
