"""The web console: a page at ``/`` and its assets, served by the server itself (no CDN)."""

from .console import install_console

__all__ = ["install_console"]
