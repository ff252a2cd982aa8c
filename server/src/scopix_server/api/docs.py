"""``/api/v2/docs``: Swagger UI served from the server's own files, so it works offline.

FastAPI's default page loads its script and styles from a CDN and stays blank without one; the
Swagger UI distribution comes with the ``swagger-ui-bundle`` package instead. The page is served
on the console's origin, so it gets a policy of its own: scripts from this server only (its one
line of set-up is a file too, not inline), no frames, no forms. Only the three files the page
uses are served from the distribution (not its demo pages).
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException
from swagger_ui_bundle import swagger_ui_path

__all__ = ["install_docs"]

_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}

_HEADERS = {
    "Content-Security-Policy": "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",  # (Swagger UI sets style attributes)
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{docs}/init.js"></script>
</body>
</html>
"""

_INIT = """SwaggerUIBundle({{
  url: {openapi},
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
}});
"""


def install_docs(app: FastAPI, *, prefix: str) -> None:
    """Serve the docs page at ``{prefix}/docs`` and its assets under ``{prefix}/docs/assets``."""
    docs = f"{prefix}/docs"
    assets = f"{docs}/assets"
    page = _PAGE.format(title=escape(f"{app.title} - docs"), assets=assets, docs=docs)
    init = _INIT.format(openapi=f'"{prefix}/openapi.json"')
    folder = Path(swagger_ui_path)

    @app.get(docs, include_in_schema=False)
    async def docs_page() -> HTMLResponse:
        return HTMLResponse(page, headers=_HEADERS)

    @app.get(f"{docs}/init.js", include_in_schema=False)
    async def docs_init() -> Response:
        return Response(init, media_type="text/javascript", headers=_HEADERS)

    @app.get(f"{assets}/{{name}}", include_in_schema=False)
    async def docs_asset(name: str) -> FileResponse:
        if name not in _ASSETS:
            raise HTTPException(404, f"No docs asset {name!r}")
        return FileResponse(folder / name, media_type=_ASSETS[name], headers=_HEADERS)
