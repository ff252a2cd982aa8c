"""API errors and the one JSON envelope every error response uses.

``{"error": {"code", "message", "details"}, "request_id"}``; a stack trace never leaves the server.
Raise an ``APIError`` subclass anywhere in a request; the handlers installed by
``install_error_handlers`` render it (and render framework errors the same way).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .exhaustion import unavailable_cause, unstorable_value

__all__ = [
    "APIError",
    "BadRequest",
    "ValidationFailed",
    "Unauthorized",
    "Forbidden",
    "QuotaExceeded",
    "NotFound",
    "Conflict",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "RateLimited",
    "RequestTimeout",
    "ServiceUnavailable",
    "error_body",
    "error_response",
    "install_error_handlers",
    "new_request_id",
]

logger = logging.getLogger("scopix_server")


class APIError(Exception):
    """An error with its HTTP status and API code; ``details`` go to ``error.details``."""

    status = 500
    code = "SERVER_ERROR"

    def __init__(
        self,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})  # top-level body members, e.g. "suggestion"


class BadRequest(APIError):
    status, code = 400, "VALIDATION_ERROR"


class ValidationFailed(APIError):
    status, code = 422, "VALIDATION_ERROR"


class Unauthorized(APIError):
    status, code = 401, "AUTH_ERROR"


class Forbidden(APIError):
    status, code = 403, "PERMISSION_DENIED"


class QuotaExceeded(APIError):
    status, code = 403, "QUOTA_EXCEEDED"


class NotFound(APIError):
    status, code = 404, "NOT_FOUND"


class Conflict(APIError):
    status, code = 409, "CONFLICT"


class PayloadTooLarge(APIError):
    status, code = 413, "FILE_TOO_LARGE"

    def __init__(self, message: str, *, code: str = "FILE_TOO_LARGE", **kwargs: Any) -> None:
        kwargs.setdefault("extra", {"suggestion": {"endpoint": "/api/v2/files/direct-uploads"}})
        super().__init__(message, **kwargs)
        self.code = code


class UnsupportedMediaType(APIError):
    status, code = 415, "UNSUPPORTED_MEDIA_TYPE"


class RequestTimeout(APIError):
    status, code = 408, "REQUEST_TIMEOUT"


class RateLimited(APIError):
    status, code = 429, "RATE_LIMITED"


class ServiceUnavailable(APIError):
    status, code = 503, "SERVICE_UNAVAILABLE"


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def new_request_id() -> str:
    return f"req_{uuid.uuid4().hex}"


def error_body(
    code: str, message: str, request_id: str, details: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The envelope of every error answer (also written by ``guards`` below the ASGI app)."""
    return {
        "error": {"code": code, "message": message, "details": dict(details or {})},
        "request_id": request_id,
    }


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body = error_body(code, message, request_id_of(request), details)
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


_STATUS_CODES = {
    400: "VALIDATION_ERROR",
    401: "AUTH_ERROR",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "FILE_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
}


def _field(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(location[-1] if location else "request")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        return error_response(
            request,
            exc.status,
            exc.code,
            exc.message,
            details=exc.details,
            headers=exc.headers,
            extra=exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field(err.get("loc", ())), "message": str(err.get("msg", "invalid"))}
            for err in exc.errors()
        ]
        first = errors[0] if errors else {"field": "request", "message": "invalid"}
        return error_response(
            request,
            422,
            "VALIDATION_ERROR",
            f"{first['field']}: {first['message']}",
            details={"errors": errors},
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(
            exc.status_code, "SERVER_ERROR" if exc.status_code >= 500 else f"HTTP_{exc.status_code}"
        )
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"No route {request.method} {request.url.path}"
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return error_response(
            request, exc.status_code, code, message, headers=getattr(exc, "headers", None)
        )

    def unavailable(request: Request, exc: BaseException, cause: str) -> JSONResponse:
        logger.warning(
            "%s %s failed: %s (request_id=%s): %s",
            request.method,
            request.url.path,
            cause,
            request_id_of(request),
            exc,
        )
        return error_response(
            request,
            503,
            "SERVICE_UNAVAILABLE",
            f"{cause}; the request was not completed. Try again later (the operator has been "
            "told in the server log)",
            details={"cause": cause},
            headers={"Retry-After": "30"},
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        cause = unavailable_cause(exc)  # (a resource failure, or one raised from it)
        if cause is not None:
            return unavailable(request, exc, cause)
        refused = unstorable_value(exc)
        if refused is not None:
            return error_response(
                request, 422, "VALIDATION_ERROR", f"a value cannot be stored: {refused}"
            )
        logger.error(
            "unhandled error in %s %s (request_id=%s)",
            request.method,
            request.url.path,
            request_id_of(request),
            exc_info=exc,
        )
        return error_response(
            request,
            500,
            "SERVER_ERROR",
            "Internal server error; quote the request_id when reporting it",
        )

    # Starlette gives a handler keyed on Exception to its outermost middleware, which answers
    # and then raises again: the server then drops the client's keep-alive connection, and the
    # client's next request on it fails. So errors from the routes are answered by a middleware
    # inside the others (added first), which does not raise again; the handler stays for errors
    # raised outside the routes.
    app.add_middleware(_AnswerErrors, answer=unexpected)
    app.add_exception_handler(Exception, unexpected)


class _AnswerErrors:
    """An error from the app, before its response has started, is answered by ``answer``."""

    def __init__(
        self, app: ASGIApp, answer: Callable[[Request, Exception], Awaitable[Response]]
    ) -> None:
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as error:
            if started:
                raise
            response = await self.answer(Request(scope, receive), error)
            await response(scope, receive, send)
