"""The API's resources, reached as attributes of the clients (``client.files``, ...)."""

from ._blocking import SyncAgentSearch, SyncFiles, SyncImages, SyncPeople
from .files import Files
from .images import Images
from .people import People
from .search import AgentSearch

__all__ = [
    "AgentSearch",
    "Files",
    "Images",
    "People",
    "SyncAgentSearch",
    "SyncFiles",
    "SyncImages",
    "SyncPeople",
]
