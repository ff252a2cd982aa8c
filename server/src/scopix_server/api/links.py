"""The base of the links a response hands out (signed downloads, direct-upload part URLs)."""

from __future__ import annotations

from fastapi import Request

from ..settings import Settings

__all__ = ["public_base"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def public_base(request: Request, settings: Settings) -> str:
    """``public_url`` when it is configured, else the address this server is bound to.

    Never the request's ``Host`` header: anyone can send any Host, and a link built from it would
    send the file (or a part upload) wherever the sender chose. Behind a proxy or a name, set
    ``SCOPIX_SERVER_PUBLIC_URL``.
    """
    if settings.public_url:
        return settings.public_url.rstrip("/")
    scheme = request.scope.get("scheme", "http")
    bound = request.scope.get("server")
    host, port = (bound[0], bound[1]) if bound else (settings.host, settings.port)
    if ":" in str(host):  # IPv6
        host = f"[{host}]"
    if port is None or _DEFAULT_PORTS.get(scheme) == port:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"
