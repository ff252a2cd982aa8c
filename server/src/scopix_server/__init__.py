"""scopix-server: the self-hostable server of the Scopix API."""

from ._version import __version__
from .app import create_app
from .settings import Settings

__all__ = ["Settings", "__version__", "create_app"]
