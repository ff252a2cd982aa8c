"""The API's resources, reached as attributes of the clients (``client.files``, ...)."""

from ._blocking import SyncAgentSearch, SyncFiles, SyncImages
from .files import Files
from .images import Images
from .search import AgentSearch

__all__ = ["AgentSearch", "Files", "Images", "SyncAgentSearch", "SyncFiles", "SyncImages"]
