"""The OpenAPI document as clients meet the API: every error answer, with its real body.

Route decorators name the answers that are particular to them (``responses=errors(409, 413)``,
``binary(...)``); ``install_openapi`` adds, from what each route really depends on, the answers
every route of its kind can give (401/403/429 behind an API key, 404 with a path id, 422 with any
input) and gives every error the one body of ``errors.py`` instead of FastAPI's default 422 shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import RouteContext, iter_route_contexts
from pydantic import BaseModel, ConfigDict

from ..guards import MAX_TARGET_BYTES

__all__ = ["ErrorBody", "binary", "errors", "install_openapi"]


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    """Every error answer: ``{"error": {code, message, details}, "request_id"}``."""

    # (extra members such as "suggestion" on a 413 may follow)
    model_config = ConfigDict(extra="allow")

    error: ErrorInfo
    request_id: str


_MEANING = {
    400: "Malformed request (the message says what to change)",
    401: "Missing, invalid, revoked or expired API key",
    403: "Not allowed: another tenant, an admin-only route, a used-up quota or a refused URL",
    404: "No such resource for this tenant (or a result that does not exist yet)",
    409: "Conflicts with the resource's state or with a repeated Idempotency-Key",
    413: "Too large (the body, the file, or the total of the request)",
    414: f"The request target (path and query) is longer than {MAX_TARGET_BYTES:,} bytes",
    415: "Content not accepted (wrong Content-Type, or a file type that is refused)",
    422: "Invalid parameters or body",
    429: "Rate limit or concurrent-upload limit reached (see Retry-After)",
    503: "A dependency (storage, database, a fetched URL) cannot be used right now",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for error answers, all with the project's error body."""
    return {status: {"model": ErrorBody, "description": _MEANING[status]} for status in statuses}


def binary(
    description: str, media_type: str = "*/*", *, ranges: bool = False
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a 200 answer of raw bytes (the stored file's own content type); with
    ``ranges``, the 206 of a ``Range`` request and its 416."""
    schema = {"type": "string", "format": "binary"}
    answers: dict[int | str, dict[str, Any]] = {
        200: {"description": description, "content": {media_type: {"schema": schema}}}
    }
    if ranges:
        answers[206] = {
            "description": "The one byte range a `Range: bytes=...` header asked for",
            "content": {media_type: {"schema": schema}},
        }
        answers[416] = {"description": "The range starts past the end of the object"}
    return answers


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def _is_authenticated(route: RouteContext) -> bool:
    from .deps import require_auth  # (deps imports the services; keep this module light)

    return any(sub.call is require_auth for sub in _dependencies(route.dependant))


def _error_ref() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


def _document(schema: dict[str, Any], routes: list[RouteContext]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in body.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components.setdefault("ErrorBody", body)
    for route in routes:
        for method in route.methods or ():
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            answers: dict[str, Any] = operation.setdefault("responses", {})
            implied: set[int] = set()
            if _is_authenticated(route):
                implied |= {401, 403, 429}
            if route.dependant.path_params:
                implied.add(404)
            if operation.get("parameters") or operation.get("requestBody"):
                implied.add(422)
            if any(p.get("in") == "query" for p in operation.get("parameters", ())):
                implied.add(414)  # (too many values for a URL: guards.MAX_TARGET_BYTES)
            if operation.get("requestBody"):
                implied.add(400)  # (a body that cannot be parsed at all)
            for code in sorted(implied):
                answers.setdefault(str(code), {"description": _MEANING[code]})
            for status, answer in answers.items():
                content = answer.get("content") or {}
                if str(status).startswith(("4", "5")) and (
                    set(content) != {"application/json"} or "HTTPValidationError" in str(content)
                ):
                    # Errors are JSON whatever the route's own answer is; FastAPI's 422 body
                    # (HTTPValidationError) is not what this server sends.
                    answer["content"] = _error_ref()
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` document the error answers and bodies this server really sends."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        routes = [
            r
            for r in iter_route_contexts(app.routes)  # (through included routers)
            if getattr(r, "dependant", None) is not None and r.include_in_schema
        ]
        _document(schema, routes)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
