"""The public surface is deliberate: this test changes whenever it does."""

from __future__ import annotations

import inspect

import pytest

import scopix
import scopix.types

EXCEPTIONS = [
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

TYPES = [
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

CLIENTS = [
    "__version__",
    "Scopix",
    "SyncScopix",
    "ClientConfig",
    "load_dotenv",
    "is_tracing_available",
    "set_correlation_id",
]

# The seed's constructor: exactly these ten parameters, in this order, with these defaults.
SEED_PARAMETERS = [
    ("api_key", inspect.Parameter.empty),
    ("base_url", "https://api.scopix.ai/api/v2"),
    ("timeout", 300.0),
    ("max_retries", 3),
    ("retry_delay", 1.0),
    ("polling_interval", 2.0),
    ("polling_timeout", 360.0),
    ("tenant_id", None),
    ("proxy_url", None),
    ("enable_tracing", False),
]


def test_all_is_exactly_the_public_surface() -> None:
    assert sorted(scopix.__all__) == sorted(CLIENTS + TYPES + EXCEPTIONS)
    assert len(scopix.__all__) == len(set(scopix.__all__))


def test_types_package_surface() -> None:
    assert sorted(scopix.types.__all__) == sorted(TYPES)
    for name in TYPES:
        assert getattr(scopix.types, name) is getattr(scopix, name)


def test_every_name_is_importable_and_reports_the_public_module() -> None:
    for name in scopix.__all__:
        obj = getattr(scopix, name)
        if isinstance(obj, type):
            assert obj.__module__ == "scopix", name


def test_description_result_lives_in_types_describe() -> None:
    from scopix.types.describe import DescriptionResult

    assert DescriptionResult is scopix.DescriptionResult


@pytest.mark.parametrize("name", EXCEPTIONS)
def test_every_exception_is_a_scopix_error(name: str) -> None:
    cls = getattr(scopix, name)
    assert issubclass(cls, scopix.ScopixError)
    assert issubclass(cls, Exception)
    if name != "ScopixError":
        assert cls.__bases__ == (scopix.ScopixError,)  # a flat hierarchy, as documented


@pytest.mark.parametrize("client_class", [scopix.Scopix, scopix.SyncScopix])
def test_constructor_has_exactly_the_seed_parameters(client_class: type) -> None:
    params = list(inspect.signature(client_class).parameters.values())
    assert [(p.name, p.default) for p in params] == SEED_PARAMETERS
    assert params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[1:])


def test_version_is_a_release_string() -> None:
    assert scopix.__version__.count(".") == 2


@pytest.mark.parametrize("resource", ["files", "images", "agent_search"])
def test_the_blocking_client_mirrors_every_async_method(resource: str) -> None:
    from scopix.resources import (
        AgentSearch,
        Files,
        Images,
        SyncAgentSearch,
        SyncFiles,
        SyncImages,
    )

    pairs = {
        "files": (Files, SyncFiles),
        "images": (Images, SyncImages),
        "agent_search": (AgentSearch, SyncAgentSearch),
    }
    async_class, sync_class = pairs[resource]
    public = {n for n in vars(async_class) if not n.startswith("_")}
    assert public == {n for n in vars(sync_class) if not n.startswith("_")}
    for name in public:
        async_params = inspect.signature(getattr(async_class, name)).parameters
        sync_params = inspect.signature(getattr(sync_class, name)).parameters
        assert list(async_params) == list(sync_params), name
