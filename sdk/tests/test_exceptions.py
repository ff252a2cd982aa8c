"""Exceptions: data-rich, readable, picklable; one function maps responses to them."""

from __future__ import annotations

import json
import pickle

import httpx
import pytest

import scopix
from scopix import (
    AuthenticationError,
    CircuitBreakerError,
    PaymentRequiredError,
    QuotaExceededError,
    RateLimitError,
    ResourceNotFoundError,
    ScopixError,
    ScopixPermissionError,
    ScopixTimeoutError,
    ServerError,
    UploadError,
    ValidationError,
)
from scopix._errors import make_status_error
from sdk_support import error_body


def response(status: int, body: object = None, **headers: str) -> httpx.Response:
    if isinstance(body, (dict, list)):
        return httpx.Response(status, json=body, headers=headers)
    content = body.encode() if isinstance(body, str) else (body or b"")
    return httpx.Response(status, content=content, headers=headers)


def test_base_error_carries_code_message_details() -> None:
    error = ScopixError("AUTH_ERROR", "bad key", details={"hint": "rotate"})
    assert (error.code, error.message, error.details) == (
        "AUTH_ERROR",
        "bad key",
        {"hint": "rotate"},
    )
    assert error.status_code is None and error.request_id is None
    assert str(error) == "bad key (AUTH_ERROR)"
    assert ScopixError("X", "m").details == {}


def test_str_includes_status_and_request_id() -> None:
    error = AuthenticationError("API key revoked", status_code=401, request_id="req_1")
    assert str(error) == "API key revoked (AUTH_ERROR, HTTP 401, request_id=req_1)"


def test_default_messages_and_codes() -> None:
    assert AuthenticationError().message == "Authentication failed"
    assert ScopixPermissionError().code == "PERMISSION_DENIED"
    assert ServerError().message == "Server error"
    assert scopix.ScopixConnectionError().message == "Connection failed"
    assert ResourceNotFoundError("file", "abc").message == "file 'abc' not found"
    assert ResourceNotFoundError().message == "resource not found"


def test_domain_attributes() -> None:
    assert RateLimitError(retry_after=3.0).retry_after == 3.0
    breaker = CircuitBreakerError(endpoint="https://api.test", retry_after=12.5)
    assert (breaker.endpoint, breaker.retry_after) == ("https://api.test", 12.5)
    assert "retry in 12.5s" in breaker.message
    assert ScopixTimeoutError(last_result={"status": "processing"}).last_result == {
        "status": "processing"
    }
    upload = UploadError(filename="a.jpg", stage="confirm", session_id="s1")
    assert (upload.filename, upload.stage, upload.session_id) == ("a.jpg", "confirm", "s1")
    quota = QuotaExceededError(details={"available": 2, "limit": 500, "requested": 10})
    assert (quota.available, quota.limit, quota.requested) == (2, 500, 10)
    assert scopix.VideoAnalysisError(analysis_job_id="j").analysis_job_id == "j"
    assert scopix.SSEStreamError(reconnect_attempts=3).reconnect_attempts == 3
    assert scopix.CloudStorageError(job_status="failed").job_status == "failed"
    assert scopix.DocumentProcessingError(document_id="d").document_id == "d"
    assert scopix.VideoUploadError(stage="initiate").stage == "initiate"
    assert scopix.ChatError(session_id="c").session_id == "c"
    assert scopix.DescriptionError(image_id="i").image_id == "i"
    assert scopix.S3ConnectorError().code == "S3_CONNECTOR_ERROR"


@pytest.mark.parametrize("name", [n for n in scopix.__all__ if n.endswith("Error")])
def test_every_exception_pickles_with_its_attributes(name: str) -> None:
    cls = getattr(scopix, name)
    error = (
        cls("CODE", "message", details={"k": 1}, status_code=500, request_id="r")
        if cls is ScopixError
        else cls(details={"k": 1}, status_code=500, request_id="r")
    )
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is cls
    assert clone.__dict__ == error.__dict__
    assert str(clone) == str(error)


# --- response -> exception ---


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "VALIDATION_ERROR", ValidationError),
        (422, "VALIDATION_ERROR", ValidationError),
        (401, "AUTH_ERROR", AuthenticationError),
        (402, "PAYMENT_REQUIRED", PaymentRequiredError),
        (403, "PERMISSION_DENIED", ScopixPermissionError),
        (403, "QUOTA_EXCEEDED", QuotaExceededError),
        (404, "NOT_FOUND", ResourceNotFoundError),
        (409, "CONFLICT", ScopixError),
        (413, "FILE_TOO_LARGE", ValidationError),
        (413, "BATCH_TOO_LARGE", ValidationError),
        (414, "VALIDATION_ERROR", ValidationError),  # (a query too long for a URL)
        (415, "UNSUPPORTED_MEDIA_TYPE", ValidationError),
        (429, "RATE_LIMITED", RateLimitError),
        (500, "SERVER_ERROR", ServerError),
        (503, "SERVICE_UNAVAILABLE", ServerError),
    ],
)
def test_contract_statuses_map_to_their_exception(status: int, code: str, cls: type) -> None:
    error = make_status_error(response(status, error_body(code, "what went wrong")))
    assert type(error) is cls
    assert error.code == code
    assert error.message == "what went wrong"
    assert error.status_code == status
    assert error.request_id == "req_x"


def test_validation_errors_list_field_problems() -> None:
    body = error_body("VALIDATION_ERROR", "bad", errors=[{"field": "title", "message": "too long"}])
    error = make_status_error(response(422, body))
    assert isinstance(error, ValidationError)
    assert error.errors == [{"field": "title", "message": "too long"}]


def test_quota_details_become_attributes() -> None:
    body = error_body("QUOTA_EXCEEDED", "over quota", available=3, limit=500, requested=10)
    error = make_status_error(response(403, body))
    assert isinstance(error, QuotaExceededError)
    assert (error.available, error.limit, error.requested) == (3, 500, 10)
    assert error.details["available"] == 3  # the documented e.details.get('available') works too


def test_file_too_large_keeps_the_suggested_endpoint() -> None:
    body = {
        **error_body("FILE_TOO_LARGE", "over 100 MB"),
        "suggestion": {"endpoint": "/api/v2/files/direct-uploads"},
    }
    error = make_status_error(response(413, body))
    assert error.details["suggestion"] == {"endpoint": "/api/v2/files/direct-uploads"}


def test_rate_limit_reads_retry_after_and_limit_headers() -> None:
    error = make_status_error(
        response(
            429,
            error_body("RATE_LIMITED", "slow down"),
            **{
                "Retry-After": "7",
                "X-RateLimit-Limit": "100",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": "1790000000",
            },
        )
    )
    assert isinstance(error, RateLimitError)
    assert (error.retry_after, error.limit, error.remaining, error.reset) == (
        7.0,
        100,
        0,
        1790000000,
    )


def test_not_found_uses_resource_details() -> None:
    body = error_body("NOT_FOUND", "File not found", resource_type="file", resource_id="f-1")
    error = make_status_error(response(404, body))
    assert isinstance(error, ResourceNotFoundError)
    assert (error.resource_type, error.resource_id) == ("file", "f-1")


def test_request_id_falls_back_to_the_header() -> None:
    body = {"error": {"code": "SERVER_ERROR", "message": "boom"}}
    error = make_status_error(response(500, body, **{"X-Request-ID": "req_hdr"}))
    assert error.request_id == "req_hdr"


@pytest.mark.parametrize(
    ("status", "body", "cls", "message"),
    [
        (502, "<html><body>Bad Gateway</body></html>", ServerError, "HTTP 502 Bad Gateway: <html>"),
        (503, "", ServerError, "HTTP 503 Service Unavailable"),
        (401, {"detail": "Not authenticated"}, AuthenticationError, "Not authenticated"),
        (
            422,
            {"detail": [{"loc": ["body", "tags"], "msg": "too many tags", "type": "x"}]},
            ValidationError,
            "tags: too many tags",
        ),
        (400, {"message": "plain message"}, ValidationError, "plain message"),
        (400, ["not", "an", "object"], ValidationError, "HTTP 400 Bad Request"),
        (418, {"error": {"code": "TEAPOT", "message": "short and stout"}}, ScopixError, "short"),
        (499, b"\xff\xfe garbage", ScopixError, "HTTP 499"),
    ],
)
def test_unusual_bodies_still_give_a_readable_error(
    status: int, body: object, cls: type, message: str
) -> None:
    error = make_status_error(response(status, body))
    assert type(error) is cls
    assert error.message.startswith(message)
    assert error.status_code == status


def test_unknown_status_code_gets_a_generic_code() -> None:
    error = make_status_error(response(418, "no"))
    assert error.code == "HTTP_418"


def test_huge_text_bodies_are_truncated() -> None:
    error = make_status_error(response(500, "x" * 10_000))
    assert len(error.message) < 400


def test_detail_list_goes_to_errors() -> None:
    body = {"detail": [{"loc": ["query", "limit"], "msg": "must be <= 100"}]}
    error = make_status_error(response(422, body))
    assert isinstance(error, ValidationError)
    assert error.errors == [{"field": "query.limit", "message": "must be <= 100"}]
    assert json.dumps(error.details)  # details stay JSON-friendly
