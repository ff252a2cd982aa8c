"""``/``: the web console, a single page that talks to the API with the user's key.

Its assets are plain files in ``static/`` (ES modules and one stylesheet, no build step): they
ship in the wheel and are served with a strict Content-Security-Policy. Scripts and styles come
from this server only; pictures from this server and, with S3 storage, from the bucket that signed
URLs point at (whose origin is found by signing a link once). The key is kept in the browser's
session storage and sent as ``Authorization``: it never appears in a URL.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from html import escape
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._version import __version__
from ..settings import Settings

__all__ = ["content_security_policy", "install_console"]

logger = logging.getLogger("scopix_server")
STATIC = Path(__file__).with_name("static")
ASSETS = "/console/assets"

_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def content_security_policy(extra_origins: tuple[str, ...] = ()) -> str:
    """The console's policy: nothing inline, nothing from elsewhere but ``extra_origins``
    (the object store's, for pictures and direct-upload parts)."""
    extra = "".join(f" {origin}" for origin in extra_origins)
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' blob:{extra}",
            f"connect-src 'self'{extra}",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _storage_origins(app: FastAPI) -> tuple[str, ...]:
    """Where signed links of the running server's storage point, when not at this server."""
    state = getattr(app.state, "scopix", None)
    if state is None:
        return ()
    try:
        probe = state.storage.presigned_url(
            "console/probe", filename="", content_type="image/webp", ttl_seconds=60
        )
    except Exception:  # (e.g. no S3 credentials yet: the console still works, less its pictures)
        logger.warning("the console could not sign a storage link; pictures from S3 are blocked")
        return ()
    origin = _origin(probe)
    return (origin,) if origin else ()


class _Secured:
    """Adds the console's headers (the policy included) to every response of ``app``."""

    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, with_headers)


class _Assets(StaticFiles):
    """The assets, revalidated on each load (ETag): an upgraded server is never half-cached."""

    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers["Cache-Control"] = "no-cache"
        return response


def install_console(app: FastAPI, settings: Settings) -> None:
    """Serve the console at ``/`` (``/console`` too) and its assets under ``/console/assets``."""
    if not settings.console:
        return

    @lru_cache(maxsize=1)
    def headers() -> dict[str, str]:
        csp = content_security_policy(_storage_origins(app))
        return {**_HEADERS, "Content-Security-Policy": csp}

    page = (STATIC / "index.html").read_text(encoding="utf-8")
    page = page.replace("{{version}}", escape(__version__))
    page = page.replace("{{direct_upload_bytes}}", str(settings.console_direct_upload_bytes))
    page = page.replace("{{max_upload_bytes}}", str(settings.max_upload_bytes))

    files = _Assets(directory=STATIC)

    async def assets(scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(k.lower().encode(), v.encode()) for k, v in headers().items()]
        await _Secured(files, raw)(scope, receive, send)

    app.mount(ASSETS, assets, name="console-assets")

    @app.get("/", include_in_schema=False)
    async def console() -> HTMLResponse:
        return HTMLResponse(page, headers={**headers(), "Cache-Control": "no-cache"})

    @app.get("/console", include_in_schema=False)
    async def console_alias() -> RedirectResponse:
        return RedirectResponse("/", status_code=308)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> RedirectResponse:
        return RedirectResponse(f"{ASSETS}/favicon.svg", status_code=308)
