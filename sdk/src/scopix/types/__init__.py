"""Result types and enums of the SDK (all re-exported from ``scopix``)."""

from .chat import (
    ChatMessage,
    ChatResponse,
    ChatSession,
    ChatSessionDetail,
    ChatSessionSummary,
    ChatToken,
    ChatTokenType,
    MessageRole,
    SessionList,
)
from .describe import DescriptionErrorType, DescriptionFailure, DescriptionResult
from .enums import DescriptionStatus, StorageTarget
from .events import FileCompleteEvent, UploadProgressEvent
from .files import (
    BatchDeleteFilesResponse,
    DeleteFileResult,
    DocumentChunk,
    FileList,
    UpdateFileResult,
    UserFile,
    UserFileDetails,
)
from .people import PeopleList, Person
from .search import (
    DocumentChunkResultItem,
    DocumentSearchAgentResult,
    ImageSearchAgentResult,
    ImageSearchResultItem,
    SimilarFile,
    SimilarFiles,
)
from .status import ProcessingStatus, SessionProgress
from .transfer import TransferConfig
from .upload import BatchUploadResults, QuotaInfo, UploadResult

__all__ = [
    "UploadResult",
    "BatchUploadResults",
    "QuotaInfo",
    "DescriptionStatus",
    "DescriptionResult",
    "DescriptionErrorType",
    "DescriptionFailure",
    "StorageTarget",
    "ProcessingStatus",
    "UserFile",
    "UserFileDetails",
    "FileList",
    "DocumentChunk",
    "SessionProgress",
    "UploadProgressEvent",
    "FileCompleteEvent",
    "UpdateFileResult",
    "DeleteFileResult",
    "BatchDeleteFilesResponse",
    "TransferConfig",
    "ImageSearchAgentResult",
    "ImageSearchResultItem",
    "DocumentSearchAgentResult",
    "DocumentChunkResultItem",
    "SimilarFiles",
    "SimilarFile",
    "Person",
    "PeopleList",
    "ChatMessage",
    "ChatResponse",
    "ChatSession",
    "ChatSessionDetail",
    "ChatSessionSummary",
    "ChatToken",
    "ChatTokenType",
    "MessageRole",
    "SessionList",
]
