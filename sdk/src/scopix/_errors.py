"""Turning an HTTP error response, or an answer the client cannot use, into the matching
``ScopixError`` (in one place)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from ._constants import HEADER_REQUEST_ID, HEADER_RETRY_AFTER
from ._exceptions import (
    AuthenticationError,
    PaymentRequiredError,
    QuotaExceededError,
    RateLimitError,
    ResourceNotFoundError,
    ScopixError,
    ScopixPermissionError,
    ServerError,
    UnexpectedResponseError,
    ValidationError,
)
from ._retry import parse_retry_after

__all__: list[str] = []

_MAX_TEXT = 300  # how much of a non-JSON error body goes into a message
_MAX_EXCERPT = 200  # how much of an unusable success body goes into a message


def make_status_error(response: httpx.Response) -> ScopixError:
    """The exception for a 4xx/5xx response (status + the API's error envelope)."""
    return error_from_parts(response.status_code, response.content, response.headers)


def unexpected_response(
    response: httpx.Response, problem: str, *, body: bytes | None = None
) -> UnexpectedResponseError:
    """The error for an answer the call cannot use (``problem`` says why, e.g. "a body that is
    not JSON"), quoting the start of its body so that a captive portal's page or a proxy's
    answer is recognisable. ``body``: the bytes read so far, for a response still streaming."""
    content = response.content if body is None else body
    excerpt = content[:_MAX_EXCERPT].decode("utf-8", "replace").strip()
    status = response.status_code
    details: dict[str, Any] = {
        "body": excerpt,
        "content_type": response.headers.get("content-type"),
    }
    location = response.headers.get("location")
    if location is not None:
        details["location"] = location
    message = (
        f"{_request_line(response)} answered HTTP {status} {_reason(status)} with {problem}; "
        "is a proxy, captive portal or wrong base_url in the way? Body: "
        f"{excerpt!r}"
    )
    return UnexpectedResponseError(
        message,
        details=details,
        status_code=status,
        request_id=response.headers.get(HEADER_REQUEST_ID),
    )


def error_from_parts(status: int, body: bytes, headers: Mapping[str, str]) -> ScopixError:
    """Map a status code, a raw body and headers to an exception; never raises while parsing.

    The body is expected to be the API envelope
    ``{"error": {"code", "message", "details"}, "request_id", "suggestion"?}``; FastAPI-style
    ``{"detail": ...}`` bodies and plain text are understood too, so that errors from proxies and
    load balancers still read well.
    """
    code, message, details, request_id = _parse_body(status, body)
    request_id = request_id or headers.get(HEADER_REQUEST_ID)
    context: dict[str, Any] = {
        "details": details,
        "status_code": status,
        "request_id": request_id,
    }
    if status == 429:
        return RateLimitError(
            message,
            code=code or "RATE_LIMITED",
            retry_after=parse_retry_after(headers.get(HEADER_RETRY_AFTER)),
            limit=_header_int(headers, "X-RateLimit-Limit"),
            remaining=_header_int(headers, "X-RateLimit-Remaining"),
            reset=_header_int(headers, "X-RateLimit-Reset"),
            **context,
        )
    if status >= 500:
        return ServerError(message, code=code or "SERVER_ERROR", **context)
    if status == 401:
        return AuthenticationError(message, code=code or "AUTH_ERROR", **context)
    if status == 402:
        return PaymentRequiredError(message, code=code or "PAYMENT_REQUIRED", **context)
    if status == 403:
        if code in ("QUOTA_EXCEEDED", "USAGE_LIMIT_EXCEEDED", "STORAGE_QUOTA_EXCEEDED"):
            return QuotaExceededError(message, code=code, **context)
        return ScopixPermissionError(message, code=code or "PERMISSION_DENIED", **context)
    if status == 404:
        return ResourceNotFoundError(
            str(details.get("resource_type") or "resource"),
            _opt_str(details.get("resource_id")),
            message=message,
            code=code or "NOT_FOUND",
            **context,
        )
    if status in (400, 413, 414, 415, 422):
        return ValidationError(message, code=code or "VALIDATION_ERROR", **context)
    return ScopixError(code or f"HTTP_{status}", message, **context)


def _parse_body(status: int, body: bytes) -> tuple[str | None, str, dict[str, Any], str | None]:
    reason = _reason(status)
    try:
        data = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        text = body.decode("utf-8", "replace").strip() if body else ""
        plain = f"HTTP {status} {reason}"
        return None, f"{plain}: {text[:_MAX_TEXT]}" if text else plain, {}, None

    request_id = _opt_str(data.get("request_id"))
    details: dict[str, Any] = {}
    code: str | None = None
    message: str | None = None
    error = data.get("error")
    if isinstance(error, dict):
        code = _opt_str(error.get("code"))
        message = _opt_str(error.get("message"))
        if isinstance(error.get("details"), dict):
            details = dict(error["details"])
    elif isinstance(error, str):
        message = error
    if message is None:
        message, details = _from_detail(data, details)
    if isinstance(data.get("suggestion"), dict):
        details.setdefault("suggestion", data["suggestion"])
    return code, message or f"HTTP {status} {reason}", details, request_id


def _from_detail(
    data: dict[str, Any], details: dict[str, Any]
) -> tuple[str | None, dict[str, Any]]:
    """FastAPI-style `{"detail": "..."}` or `{"detail": [{"loc", "msg"}]}`; or `{"message"}`."""
    detail = data.get("detail")
    if isinstance(detail, str):
        return detail, details
    if isinstance(detail, list):
        errors = [
            {
                "field": ".".join(str(p) for p in item.get("loc", []) if p != "body"),
                "message": str(item.get("msg", "")),
            }
            for item in detail
            if isinstance(item, dict)
        ]
        if errors:
            details = {**details, "errors": errors}
            first = errors[0]
            return f"{first['field']}: {first['message']}" if first["field"] else first[
                "message"
            ], details
    return _opt_str(data.get("message")), details


def _request_line(response: httpx.Response) -> str:
    """``GET https://...`` of the request that got this response, without its query (a signed
    URL's signature stays out of messages and logs); "the server" if unknown."""
    try:
        request = response.request
    except RuntimeError:  # (a response built by hand has no request)
        return "the server"
    return f"{request.method} {request.url.copy_with(query=None)}"


def _reason(status: int) -> str:
    return httpx.codes.get_reason_phrase(status) or "Error"


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None
