"""Exceptions raised by the SDK.

Every exception is a ``ScopixError`` and is importable from ``scopix``::

    ScopixError(code, message, *, details)  .code .message .details .status_code .request_id
    ├── AuthenticationError        401  AUTH_ERROR: missing, unknown, revoked or expired API key
    ├── PaymentRequiredError       402  PAYMENT_REQUIRED: the subscription is past due
    ├── ScopixPermissionError      403  PERMISSION_DENIED: the key may not do this
    ├── QuotaExceededError         403  QUOTA_EXCEEDED: .available, .limit, .requested
    ├── ResourceNotFoundError      404  NOT_FOUND: .resource_type, .resource_id
    ├── ValidationError            400 / 413 / 414 / 415 / 422: .errors lists the field problems
    ├── RateLimitError        [r]  429  RATE_LIMITED: .retry_after, .limit, .remaining, .reset
    ├── ServerError           [r]  5xx  SERVER_ERROR / SERVICE_UNAVAILABLE
    ├── ScopixConnectionError [r]  the network failed before a response arrived
    ├── ScopixTimeoutError    [r]  a request or a wait ran out of time: .last_result
    ├── CircuitBreakerError        failing fast while a host is unhealthy: .endpoint, .retry_after
    ├── UnexpectedResponseError    a redirect, or a body that is not the JSON the call expects
    ├── UploadError                .filename, .stage, .session_id, .partial_results
    ├── DescriptionError           .image_id, .status
    ├── ChatError                  .session_id, .error_code
    ├── DocumentProcessingError    .document_id, .status
    ├── CloudStorageError          .job_id, .job_status
    ├── S3ConnectorError
    ├── VideoUploadError           .media_id, .stage, .partial_chunks
    ├── VideoAnalysisError         .media_id, .analysis_job_id, .status
    └── SSEStreamError             .last_event_id, .events_received, .reconnect_attempts

"[r]" marks the errors that the client retries by itself (up to ``max_retries`` times) before
raising them. Errors built from an HTTP response carry ``status_code`` and ``request_id``; quote the
request id when you report a problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._convert import opt_int

__all__ = [
    "ScopixError",
    "AuthenticationError",
    "PaymentRequiredError",
    "ScopixPermissionError",
    "QuotaExceededError",
    "ResourceNotFoundError",
    "ValidationError",
    "RateLimitError",
    "ServerError",
    "ScopixConnectionError",
    "ScopixTimeoutError",
    "CircuitBreakerError",
    "UnexpectedResponseError",
    "UploadError",
    "DescriptionError",
    "ChatError",
    "DocumentProcessingError",
    "CloudStorageError",
    "S3ConnectorError",
    "VideoUploadError",
    "VideoAnalysisError",
    "SSEStreamError",
]


def _restore(cls: type[ScopixError], state: dict[str, Any]) -> ScopixError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class ScopixError(Exception):
    """Base class of every error raised by the SDK.

    Args:
        code: machine-readable error code, e.g. ``"AUTH_ERROR"`` (the API's ``error.code``).
        message: human-readable explanation.
        details: extra data from the API's ``error.details`` (always a dict, possibly empty).
        status_code: the HTTP status, when the error comes from a response.
        request_id: the server's request id, when known; quote it in bug reports.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.status_code = status_code
        self.request_id = request_id

    def __str__(self) -> str:
        context = [self.code]
        if self.status_code is not None:
            context.append(f"HTTP {self.status_code}")
        if self.request_id:
            context.append(f"request_id={self.request_id}")
        return f"{self.message} ({', '.join(context)})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    # Subclasses have their own constructor signatures, so the default Exception pickling (which
    # replays ``args``) would fail; rebuild from the attributes instead (e.g. for process pools).
    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), dict(self.__dict__)))


class AuthenticationError(ScopixError):
    """401: the API key is missing, malformed, unknown, revoked or expired."""

    def __init__(
        self, message: str = "Authentication failed", *, code: str = "AUTH_ERROR", **context: Any
    ) -> None:
        super().__init__(code, message, **context)


class PaymentRequiredError(ScopixError):
    """402: the account's subscription payment is past due."""

    def __init__(
        self, message: str = "Payment required", *, code: str = "PAYMENT_REQUIRED", **context: Any
    ) -> None:
        super().__init__(code, message, **context)


class ScopixPermissionError(ScopixError):
    """403: the API key is valid but may not perform this operation (or names another tenant)."""

    def __init__(
        self, message: str = "Permission denied", *, code: str = "PERMISSION_DENIED", **context: Any
    ) -> None:
        super().__init__(code, message, **context)


class QuotaExceededError(ScopixError):
    """403 ``QUOTA_EXCEEDED``: the request would go over the tenant's quota.

    ``available``, ``limit`` and ``requested`` come from the error details when the server sends
    them.
    ``partial_results`` holds what a batch operation finished before the quota ran out.
    """

    def __init__(
        self,
        message: str = "Quota exceeded",
        *,
        code: str = "QUOTA_EXCEEDED",
        available: int | None = None,
        limit: int | None = None,
        requested: int | None = None,
        partial_results: Any = None,
        **context: Any,
    ) -> None:
        super().__init__(code, message, **context)
        self.available = _or_detail(available, self.details, "available")
        self.limit = _or_detail(limit, self.details, "limit")
        self.requested = _or_detail(requested, self.details, "requested")
        self.partial_results = partial_results


class ResourceNotFoundError(ScopixError):
    """404: the resource does not exist, was deleted, or belongs to another tenant."""

    def __init__(
        self,
        resource_type: str = "resource",
        resource_id: str | None = None,
        *,
        message: str | None = None,
        code: str = "NOT_FOUND",
        **context: Any,
    ) -> None:
        if message is None:
            message = (
                f"{resource_type} {resource_id!r} not found"
                if resource_id
                else f"{resource_type} not found"
            )
        super().__init__(code, message, **context)
        self.resource_type = resource_type
        self.resource_id = resource_id


class ValidationError(ScopixError):
    """400 / 413 / 414 / 415 / 422: the request was refused as invalid; it fails again unchanged.

    ``errors`` lists the problems per field when the server reports them
    (``[{"field": ..., "message": ...}, ...]``). For 413 the server's ``suggestion`` (which endpoint
    to use instead) is kept in ``details["suggestion"]``.
    """

    def __init__(
        self, message: str = "Validation failed", *, code: str = "VALIDATION_ERROR", **context: Any
    ) -> None:
        super().__init__(code, message, **context)

    @property
    def errors(self) -> list[Any]:
        errors = self.details.get("errors")
        return list(errors) if isinstance(errors, list) else []


class RateLimitError(ScopixError):
    """429: too many requests. ``retry_after`` says how many seconds to wait (when known).

    The client retries these by itself, honouring ``Retry-After``; you see this error only when the
    retries ran out or the server asked for a pause longer than the client waits inside a call.
    """

    def __init__(
        self,
        message: str = "Rate limit exceeded",
        *,
        code: str = "RATE_LIMITED",
        retry_after: float | None = None,
        limit: int | None = None,
        remaining: int | None = None,
        reset: int | None = None,
        **context: Any,
    ) -> None:
        super().__init__(code, message, **context)
        self.retry_after = retry_after
        self.limit = limit
        self.remaining = remaining
        self.reset = reset


class ServerError(ScopixError):
    """5xx: the server failed. Retried automatically; raised when the retries ran out."""

    def __init__(
        self, message: str = "Server error", *, code: str = "SERVER_ERROR", **context: Any
    ) -> None:
        super().__init__(code, message, **context)


class ScopixConnectionError(ScopixError):
    """The network failed (DNS, refused or reset connection, proxy failure) before a response."""

    def __init__(
        self, message: str = "Connection failed", *, code: str = "CONNECTION_ERROR", **context: Any
    ) -> None:
        super().__init__(code, message, **context)


class ScopixTimeoutError(ScopixError):
    """A request, or a wait for processing to finish, ran out of time.

    ``last_result`` holds the last status seen before the wait gave up (for polling operations).
    """

    def __init__(
        self,
        message: str = "Operation timed out",
        *,
        code: str = "TIMEOUT",
        last_result: Any = None,
        **context: Any,
    ) -> None:
        super().__init__(code, message, **context)
        self.last_result = last_result


class CircuitBreakerError(ScopixError):
    """The circuit breaker for a host is open after repeated failures: the call was not sent.

    ``endpoint`` names the host; ``retry_after`` is the number of seconds until requests are let
    through again.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str = "CIRCUIT_OPEN",
        endpoint: str | None = None,
        retry_after: float | None = None,
        **context: Any,
    ) -> None:
        if message is None:
            where = f" for {endpoint}" if endpoint else ""
            wait = f"; retry in {retry_after:.1f}s" if retry_after is not None else ""
            message = f"Circuit breaker open{where} after repeated failures{wait}"
        super().__init__(code, message, **context)
        self.endpoint = endpoint
        self.retry_after = retry_after


class UnexpectedResponseError(ScopixError):
    """The server's answer is not one the call can use: a redirect it did not ask for, or a
    success whose body is not the JSON it expects (an HTML page, a list where an object belongs).

    Usually something between the client and the API answered instead of it: a captive portal, a
    proxy or load balancer routed elsewhere, or a ``base_url`` that names the wrong site. The
    message quotes the start of the body; ``details`` holds it as ``body`` (and ``location`` for a
    redirect). Not retried: the same route answers the same way again.
    """

    def __init__(
        self,
        message: str = "Unexpected response",
        *,
        code: str = "UNEXPECTED_RESPONSE",
        **context: Any,
    ) -> None:
        super().__init__(code, message, **context)


class UploadError(ScopixError):
    """An upload failed. ``stage`` says where (quota, presigned, upload, confirm, ...)."""

    def __init__(
        self,
        message: str = "Upload failed",
        *,
        code: str = "UPLOAD_ERROR",
        filename: str | None = None,
        stage: str | None = None,
        session_id: str | None = None,
        partial_results: Any = None,
        **context: Any,
    ) -> None:
        super().__init__(code, message, **context)
        self.filename = filename
        self.stage = stage
        self.session_id = session_id
        self.partial_results = partial_results


class DescriptionError(ScopixError):
    """AI description failed for a file (see the result's ``description_is_retryable``)."""

    def __init__(
        self,
        message: str = "Description generation failed",
        *,
        code: str = "DESCRIPTION_ERROR",
        image_id: str | None = None,
        status: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(code, message, **context)
        self.image_id = image_id
        self.status = status


class ChatError(ScopixError):
    """A chat operation failed."""

    def __init__(
        self,
        message: str = "Chat failed",
        *,
        code: str = "CHAT_ERROR",
        session_id: str | None = None,
        error_code: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(code, message, **context)
        self.session_id = session_id
        self.error_code = error_code


class DocumentProcessingError(ScopixError):
    """Text extraction (or indexing) of a document failed."""

    def __init__(
        self,
        message: str = "Document processing failed",
        *,
        code: str = "DOCUMENT_PROCESSING_ERROR",
        document_id: str | None = None,
        status: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(code, message, **context)
        self.document_id = document_id
        self.status = status


class CloudStorageError(ScopixError):
    """A cloud-storage import or export job failed."""

    def __init__(
        self,
        message: str = "Cloud storage job failed",
        *,
        code: str = "CLOUD_STORAGE_ERROR",
        job_id: str | None = None,
        job_status: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(code, message, **context)
        self.job_id = job_id
        self.job_status = job_status


class S3ConnectorError(ScopixError):
    """A job of the tenant's own S3 bucket connector failed."""

    def __init__(
        self,
        message: str = "S3 connector failed",
        *,
        code: str = "S3_CONNECTOR_ERROR",
        **context: Any,
    ) -> None:
        super().__init__(code, message, **context)


class VideoUploadError(ScopixError):
    """A video upload failed. ``stage`` is one of initiate, chunk_upload, confirm, complete."""

    def __init__(
        self,
        message: str = "Video upload failed",
        *,
        code: str = "VIDEO_UPLOAD_ERROR",
        media_id: str | None = None,
        stage: str | None = None,
        partial_chunks: Any = None,
        **context: Any,
    ) -> None:
        super().__init__(code, message, **context)
        self.media_id = media_id
        self.stage = stage
        self.partial_chunks = partial_chunks


class VideoAnalysisError(ScopixError):
    """Analysis of an uploaded video failed."""

    def __init__(
        self,
        message: str = "Video analysis failed",
        *,
        code: str = "VIDEO_ANALYSIS_ERROR",
        media_id: str | None = None,
        analysis_job_id: str | None = None,
        status: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(code, message, **context)
        self.media_id = media_id
        self.analysis_job_id = analysis_job_id
        self.status = status


class SSEStreamError(ScopixError):
    """A server-sent-events stream failed after its reconnect attempts ran out."""

    def __init__(
        self,
        message: str = "Event stream failed",
        *,
        code: str = "SSE_STREAM_ERROR",
        last_event_id: str | None = None,
        events_received: int = 0,
        reconnect_attempts: int = 0,
        **context: Any,
    ) -> None:
        super().__init__(code, message, **context)
        self.last_event_id = last_event_id
        self.events_received = events_received
        self.reconnect_attempts = reconnect_attempts


def _or_detail(value: int | None, details: dict[str, Any], key: str) -> int | None:
    """An explicit value, else the integer the server sent in ``details[key]``."""
    return value if value is not None else opt_int(details.get(key))
