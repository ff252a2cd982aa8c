"""Scopix: the Python SDK of the Scopix visual-AI file platform.

    from scopix import Scopix

    async with Scopix(api_key="scopix_...") as client:
        ...

``SyncScopix`` offers the same without ``await``. Every exception is a ``ScopixError``.
"""

from ._client import Scopix
from ._config import ClientConfig
from ._dotenv import load_dotenv
from ._exceptions import (
    AuthenticationError,
    ChatError,
    CircuitBreakerError,
    CloudStorageError,
    DescriptionError,
    DocumentProcessingError,
    PaymentRequiredError,
    QuotaExceededError,
    RateLimitError,
    ResourceNotFoundError,
    S3ConnectorError,
    ScopixConnectionError,
    ScopixError,
    ScopixPermissionError,
    ScopixTimeoutError,
    ServerError,
    SSEStreamError,
    UnexpectedResponseError,
    UploadError,
    ValidationError,
    VideoAnalysisError,
    VideoUploadError,
)
from ._sync import SyncScopix
from ._tracing import is_tracing_available, set_correlation_id
from ._version import __version__
from .types import (
    BatchDeleteFilesResponse,
    BatchUploadResults,
    ChatMessage,
    ChatResponse,
    ChatSession,
    ChatSessionDetail,
    ChatSessionSummary,
    ChatToken,
    ChatTokenType,
    DeleteFileResult,
    DescriptionErrorType,
    DescriptionFailure,
    DescriptionResult,
    DescriptionStatus,
    DocumentChunk,
    DocumentChunkResultItem,
    DocumentSearchAgentResult,
    FileCompleteEvent,
    FileList,
    ImageSearchAgentResult,
    ImageSearchResultItem,
    MessageRole,
    PeopleList,
    Person,
    ProcessingStatus,
    QuotaInfo,
    SessionList,
    SessionProgress,
    SimilarFile,
    SimilarFiles,
    StorageTarget,
    TransferConfig,
    UpdateFileResult,
    UploadProgressEvent,
    UploadResult,
    UserFile,
    UserFileDetails,
)

__all__ = [
    "__version__",
    # clients and configuration
    "Scopix",
    "SyncScopix",
    "ClientConfig",
    "load_dotenv",
    "is_tracing_available",
    "set_correlation_id",
    # types
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
    # exceptions
    "ScopixError",
    "AuthenticationError",
    "PaymentRequiredError",
    "ScopixPermissionError",
    "QuotaExceededError",
    "ResourceNotFoundError",
    "ValidationError",
    "RateLimitError",
    "ServerError",
    "ScopixConnectionError",
    "ScopixTimeoutError",
    "CircuitBreakerError",
    "UnexpectedResponseError",
    "UploadError",
    "DescriptionError",
    "ChatError",
    "DocumentProcessingError",
    "CloudStorageError",
    "S3ConnectorError",
    "VideoUploadError",
    "VideoAnalysisError",
    "SSEStreamError",
]

# Tracebacks and reprs name the public location (scopix.RateLimitError), not the private module.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("scopix."):
        _obj.__module__ = "scopix"
del _name, _obj
