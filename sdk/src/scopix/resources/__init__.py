"""The API's resources, reached as attributes of the clients (``client.files``, ...)."""

from ._blocking import SyncFiles, SyncImages
from .files import Files
from .images import Images

__all__ = ["Files", "Images", "SyncFiles", "SyncImages"]
