"""Wire shapes of API.md (responses), separate from the database tables."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

__all__ = [
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyInfo",
    "ApiKeyList",
    "BatchDeleteRequest",
    "BatchUploadResult",
    "SessionProgress",
    "SessionResults",
    "BatchDeleteResult",
    "ChunkItem",
    "ChunkList",
    "DeletedFile",
    "Box",
    "Dimensions",
    "FaceBox",
    "FileDetails",
    "FileList",
    "FileStatus",
    "FileSummary",
    "FileUpdate",
    "FileUpdated",
    "Label",
    "PeopleList",
    "PersonInfo",
    "PersonMerge",
    "PersonUpdate",
    "QuotaCheck",
    "TenantOverview",
    "TenantSettings",
    "TenantUsage",
    "TierLimitsOut",
    "UploadRecord",
    "UtcDateTime",
    "page",
]

CONTENT_CATEGORIES = (
    "general", "blueprint", "ce_plan", "technical_diagram", "architectural_design",
    "product_photo", "real_estate", "mining", "robotics", "artwork", "screenshot", "document",
    "map", "pid", "pfd", "construction", "facility_assessment",
)  # fmt: skip


_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def _iso_text(value: Any) -> Any:
    """Date-times arrive as ISO 8601 text; a bare number (a Unix time?) is ambiguous: refused."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number or (isinstance(value, str) and _NUMBER.match(value)):
        raise ValueError(
            "expected an ISO 8601 date-time such as 2026-01-31T12:00:00Z, not a number"
        )
    return value


def _as_utc(value: datetime) -> datetime:
    # A date-time without an offset is read as UTC (documented): comparing it with the stored,
    # offset-aware times would otherwise fail.
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:  # (e.g. 9999-12-31T23:59:59-01:00 is in the year 10000 in UTC)
        raise ValueError("the date-time in UTC is out of range (years 1 to 9999)") from None


# Every date-time input (bodies and query parameters): ISO 8601, a missing offset means UTC.
UtcDateTime = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_as_utc)]


def page(items: list[Any], *, total: int, limit: int, offset: int) -> dict[str, Any]:
    """The one list body of API.md §1: items plus total_count, has_more, limit and offset."""
    return {
        "items": items,
        "total_count": total,
        "has_more": offset + len(items) < total,
        "limit": limit,
        "offset": offset,
    }


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UploadRecord(_Model):
    image_id: str
    filename: str
    media_type: str
    content_type: str
    size_bytes: int
    content_hash: str
    object_key: str
    status: Literal["processing", "completed", "failed", "skipped"]
    description_status: str
    skipped: bool = False
    skipped_existing_image_id: str | None = None
    thumbnail_url: str | None = None
    created_at: datetime


class Label(_Model):
    """A thing the local classifier saw, with its probability."""

    label: str
    confidence: float


class Box(_Model):
    x: float
    y: float
    width: float
    height: float


class FaceBox(_Model):
    """A face the local detector found; coordinates are 0-1 of the upright image."""

    bbox: Box
    confidence: float


class ProviderError(_Model):
    """A description provider that failed while the others described the file."""

    provider: str
    error_type: str
    message: str


class Dimensions(_Model):
    width: int
    height: int


class FileSummary(_Model):
    id: str
    filename: str
    title: str | None
    tags: list[str]
    media_type: str
    content_type: str
    size_bytes: int
    content_category: str
    description_status: str
    status: str = Field(description="processing, completed or failed (the file's own processing)")
    is_terminal: bool = Field(description="every processing step has ended")
    blur_hash: str | None = Field(description="a placeholder to paint until the thumbnail loads")
    thumbnail_url: str | None
    created_at: datetime
    content_created_at: datetime | None


class FileDetails(UploadRecord):
    id: str
    title: str | None
    tags: list[str]  # the user's, then the description's
    user_tags: list[str]
    key_elements: list[str] | None
    analysis_level: str | None
    provider_count: int | None
    content_category: str
    folder_id: str | None
    project_id: str | None
    description: str | None
    visible_text: str | None
    text_regions: list[dict[str, Any]] | None
    confidence_score: float | None
    description_error: str | None
    description_error_type: str | None
    description_is_retryable: bool | None
    provider_errors: list[ProviderError]
    labels: list[Label] | None  # what the local vision models saw (null: not looked at)
    faces: list[FaceBox] | None
    safety_score: float | None  # 0-1: how likely the picture is explicit
    dimensions: Dimensions | None
    format: str | None
    content_created_at: datetime | None
    blur_hash: str | None
    variant_status: str
    is_terminal: bool = Field(description="every processing step has ended")
    medium_url: str | None
    full_url: str | None
    original_url: str | None
    page_count: int | None
    chunk_count: int | None
    text_extraction_status: str | None
    embedding_status: str
    embedding_model: str | None
    embedding_error: str | None
    updated_at: datetime


class FileList(_Model):
    items: list[FileSummary]
    total_count: int
    has_more: bool
    limit: int
    offset: int


class ChunkItem(_Model):
    index: int
    text: str
    page_numbers: list[int]


class ChunkList(_Model):
    items: list[ChunkItem]
    total_count: int
    has_more: bool
    limit: int
    offset: int


class FileStatus(_Model):
    file_id: str
    media_type: str
    status: str
    description_status: str
    variant_status: str
    text_extraction_status: str | None
    page_count: int | None
    chunk_count: int | None
    description_error: str | None
    description_error_type: str | None
    description_is_retryable: bool | None
    provider_errors: list[ProviderError]
    embedding_status: str
    embedding_error: str | None
    is_terminal: bool
    updated_at: datetime


Tag = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[^,]*$")]


class PersonCover(_Model):
    file_id: str
    bbox: Box


class PersonInfo(_Model):
    """A group of faces the server takes for one person."""

    id: str
    name: str | None
    file_count: int
    face_count: int
    cover: PersonCover  # a face of theirs: the file and where in it
    created_at: datetime


class PeopleList(_Model):
    items: list[PersonInfo]
    total_count: int
    has_more: bool
    limit: int
    offset: int


class PersonUpdate(_Model):
    name: str | None = Field(max_length=200, description="a name; null forgets it")


class PersonMerge(_Model):
    person_id: str = Field(description="the person whose faces move here (it then goes)")


class TenantSettings(_Model):
    """The tenant's own settings."""

    safety_threshold: float = Field(
        strict=True,  # (not true/false, nor a number in a string)
        ge=0.0,
        le=1.0,
        description="GET /files?safe=true hides pictures whose safety_score is at or over this",
    )


class FileUpdate(_Model):
    """At least one of ``title`` and ``tags`` (null is not a value here: leave a field out)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    title: str | SkipJsonSchema[None] = Field(None, max_length=255)
    tags: Annotated[list[Tag], Field(max_length=40)] | SkipJsonSchema[None] = None

    @field_validator("title", "tags", mode="before")
    @classmethod
    def _no_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("null is not a value here; leave the field out to keep it")
        return value


class FileUpdated(_Model):
    id: str
    title: str | None
    tags: list[str]
    updated_at: datetime


class DeletedFile(_Model):
    id: str
    deleted_at: datetime
    message: str = "File deleted successfully"


class BatchDeleteItem(_Model):
    id: str
    status: Literal["deleted", "skipped", "failed"]
    deleted_at: datetime | None = None
    message: str | None = None


class BatchDeleteSummary(_Model):
    total: int
    deleted: int
    skipped: int
    failed: int


class BatchDeleteRequest(_Model):
    file_ids: list[str] = Field(..., min_length=1, max_length=100)


class BatchDeleteResult(_Model):
    deleted: list[BatchDeleteItem]
    skipped: list[BatchDeleteItem]
    failed: list[BatchDeleteItem]
    summary: BatchDeleteSummary


class TierLimitsOut(_Model):
    """The tier's limits; null: no limit."""

    requests_per_minute: int | None
    concurrent_uploads: int | None
    max_batch_size: int | None
    monthly_uploads: int | None
    monthly_chat_messages: int | None


class TenantUsage(_Model):
    period: str = Field(description="the calendar month counted (UTC), YYYY-MM")
    uploads_this_month: int
    chat_messages_this_month: int = Field(description="chat questions answered")
    files: int = Field(description="files stored (deleted files not counted)")
    bytes_stored: int = Field(description="the originals' bytes (variants not counted)")


class TenantOverview(_Model):
    """Who the key belongs to, the tier's limits and what has been used."""

    id: str
    name: str
    subscription_tier: str
    created_at: datetime
    safety_threshold: float
    limits: TierLimitsOut
    usage: TenantUsage


class QuotaCheck(_Model):
    can_proceed: bool
    requested: int
    available: int
    monthly_limit: int
    current_usage: int
    message: str | None
    max_batch_size: int | None
    prepaid_credits: int
    max_concurrent_uploads: int | None


KEY_SCOPES = ("read", "write")


class ApiKeyCreate(_Model):
    name: str = Field(..., min_length=1, max_length=255)
    description: str | None = Field(None, max_length=500)
    admin: StrictBool = False  # (JSON true/false only: 0 or "yes" is refused, not read)
    scopes: list[Literal["read", "write"]] = Field(
        default_factory=list,
        max_length=len(KEY_SCOPES),
        description="read: GET requests only; write: every request; empty: both (the creator's)",
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="free client data, returned as given (at most 8 KiB)"
    )
    expires_at: UtcDateTime | None = Field(None, description="in the future; no offset: UTC")


class ApiKeyInfo(_Model):
    id: str
    name: str
    description: str | None
    scopes: list[str]
    metadata: dict[str, Any]
    key_prefix: str
    is_admin: bool
    is_active: bool
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


class ApiKeyCreated(ApiKeyInfo):
    api_key: str


class ApiKeyList(_Model):
    items: list[ApiKeyInfo]
    total_count: int
    has_more: bool
    limit: int
    offset: int


class RejectedFile(_Model):
    filename: str
    error: dict[str, str]


class BatchUploadResult(_Model):
    session_id: str
    total_files: int
    accepted_files: int
    rejected_files: int
    status: Literal["processing", "partial", "rejected", "completed"]
    results: list[UploadRecord | RejectedFile]
    status_url: str


class SessionProgress(_Model):
    session_id: str
    status: Literal["pending", "processing", "completed", "failed", "cancelled"]
    total_files: int
    completed_files: int
    failed_files: int
    skipped_files: int
    pending_files: int
    progress_percentage: float
    created_at: datetime
    updated_at: datetime


class SessionResults(_Model):
    items: list[FileDetails]
    total_count: int
    has_more: bool
    limit: int
    offset: int


# --- search ---

SearchMode = Literal["hybrid", "semantic", "lexical"]
SearchDomain = Literal["general", "civil_engineering", "maps", "mining"]
FileId = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")]


class ImageSearchRequest(_Model):
    query: str = Field(min_length=1, max_length=2000, description="What to find, in plain words.")
    limit: int = Field(50, ge=1, le=500, description="Most results to return.")
    folder_id: FileId | None = Field(None, description="Only images of this folder.")
    image_ids: list[FileId] | None = Field(
        None, max_length=500, description="Only among these images."
    )
    mode: SearchMode = Field(
        "hybrid", description="hybrid (words and meaning fused), semantic or lexical."
    )
    domain: SearchDomain = Field(
        "general", description="Accepted for compatibility; every domain searches alike here."
    )


class DocumentSearchRequest(_Model):
    query: str = Field(min_length=1, max_length=2000, description="What to find, in plain words.")
    limit: int = Field(50, ge=1, le=500, description="Most passages to return.")
    document_ids: list[FileId] | None = Field(
        None, max_length=500, description="Only among these documents."
    )
    document_types: list[Annotated[str, Field(min_length=1, max_length=10)]] | None = Field(
        None, max_length=10, description="Only these formats: pdf, docx, txt, md."
    )
    mode: SearchMode = Field(
        "hybrid", description="hybrid (words and meaning fused), semantic or lexical."
    )


class ImageSearchItem(_Model):
    image_id: str
    score: float = Field(ge=0, le=1)
    filename: str
    title: str | None
    description: str | None
    folder_id: str | None
    thumbnail_url: str | None
    matched: Literal["description", "text"]
    features: list[dict[str, Any]] | None = None


class _SearchEnvelope(_Model):
    success: bool
    count: int
    summary: str
    summary_raw: str
    result_refs: dict[str, Any]
    search_mode: SearchMode
    search_strategy: dict[str, Any] | None
    execution_time_ms: int
    iterations: int
    token_usage: dict[str, int] | None


class ImageSearchResponse(_SearchEnvelope):
    results: list[ImageSearchItem]
    result_ids: list[str]


class DocumentChunkItem(_Model):
    chunk_id: str  # <document_id>:<chunk_index>
    document_id: str
    document_filename: str
    filename: str
    chunk_index: int
    text: str
    page_numbers: list[int]
    score: float = Field(ge=0, le=1)


class DocumentSearchResponse(_SearchEnvelope):
    results: list[DocumentChunkItem]
    chunk_ids: list[str]
    document_ids: list[str]


class SimilarItem(_Model):
    id: str
    filename: str
    title: str | None
    media_type: str
    score: float = Field(ge=0, le=1)
    near_duplicate: bool
    hash_distance: int | None
    thumbnail_url: str | None


class SimilarFiles(_Model):
    file_id: str
    items: list[SimilarItem]
    count: int
