"""The API's resources, reached as attributes of the clients (``client.files``, ...)."""

from ._blocking import (
    SyncAgentSearch,
    SyncChats,
    SyncChatSession,
    SyncFiles,
    SyncImages,
    SyncPeople,
)
from .chat import Chats, ChatSessionContext
from .files import Files
from .images import Images
from .people import People
from .search import AgentSearch

__all__ = [
    "AgentSearch",
    "ChatSessionContext",
    "Chats",
    "Files",
    "Images",
    "People",
    "SyncAgentSearch",
    "SyncChatSession",
    "SyncChats",
    "SyncFiles",
    "SyncImages",
    "SyncPeople",
]
