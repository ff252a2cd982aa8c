"""405 answers whose ``Allow`` lists the methods of the resource the client named.

Starlette answers 405 from the first route whose path matches, so ``OPTIONS /files/batch-delete``
said ``Allow: GET`` (the method of ``/files/{file_id}``, declared earlier), and ``GET
/files/batch-delete`` reached ``/files/{file_id}`` and answered 404. Here the most specific path
template that matches wins (the one with the most literal characters: ``/files/batch-delete``
over ``/files/{file_id}``); a method it does not have gets 405 with all of its methods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi.routing import iter_route_contexts
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import error_response

__all__ = ["AllowedMethodsMiddleware"]


@dataclass(frozen=True)
class _Template:
    pattern: re.Pattern[str]
    path: str
    literal: int  # characters outside {parameters}: the higher, the more specific
    methods: frozenset[str]


def _templates(routes: list[BaseRoute]) -> tuple[_Template, ...]:
    found: list[_Template] = []
    for route in iter_route_contexts(routes):  # (through included routers, with their prefix)
        methods, path = route.methods, route.path_format
        pattern = getattr(route, "path_regex", None)
        if methods and path and isinstance(pattern, re.Pattern):
            literal = len(re.sub(r"\{[^}]*\}", "", path))
            found.append(_Template(pattern, path, literal, frozenset(methods)))
    return tuple(found)


def allowed_methods(templates: tuple[_Template, ...], path: str) -> frozenset[str] | None:
    """The methods of the most specific path template matching ``path`` (None: no route)."""
    matching = [t for t in templates if t.pattern.match(path)]
    if not matching:
        return None
    best = max(t.literal for t in matching)
    chosen = {t.path for t in matching if t.literal == best}
    return frozenset(m for t in matching if t.path in chosen for m in t.methods)


class AllowedMethodsMiddleware:
    """Answer a method the named resource does not have with 405 and its exact ``Allow``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: tuple[_Template, ...] | None = None  # (read once: routes are fixed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self._templates is None:
                self._templates = _templates(getattr(scope.get("app"), "routes", []))
            methods = allowed_methods(self._templates, scope["path"])
            if methods is not None and scope["method"] not in methods:
                allow = ", ".join(sorted(methods))
                request = Request(scope)
                response = error_response(
                    request,
                    405,
                    "METHOD_NOT_ALLOWED",
                    f"{scope['method']} is not allowed on {scope['path']}; use {allow}",
                    details={"allowed_methods": sorted(methods)},
                    headers={"Allow": allow},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
