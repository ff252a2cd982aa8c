"""File types: list items, full details, lists and document chunks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .._convert import (
    int_or,
    opt_bool,
    opt_dict_list,
    opt_float,
    opt_int,
    opt_str,
    opt_str_list,
    parse_datetime,
    to_dict,
)
from .enums import DescriptionStatus

__all__ = [
    "BatchDeleteFilesResponse",
    "DeleteFileResult",
    "DocumentChunk",
    "FileList",
    "UpdateFileResult",
    "UserFile",
    "UserFileDetails",
]


def id_of(data: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = data.get(name)
        if isinstance(value, str) and value:
            return value
    raise ValueError(f"response has no {names[0]}: keys {sorted(data)}")


def _dimensions(value: Any) -> dict[str, int] | None:
    if isinstance(value, Mapping):
        width, height = opt_int(value.get("width")), opt_int(value.get("height"))
        if width is not None and height is not None:
            return {"width": width, "height": height}
    return None


@dataclass(frozen=True)
class UserFile:
    """One file in a list (``files.list``, ``files.list_all``)."""

    id: str
    filename: str
    title: str | None = None
    tags: list[str] = field(default_factory=list)
    media_type: str | None = None
    content_type: str | None = None
    size_bytes: int = 0
    content_category: str | None = None
    description_status: DescriptionStatus = DescriptionStatus.PENDING
    thumbnail_url: str | None = None
    created_at: datetime | None = None
    content_created_at: datetime | None = None  # from EXIF, when the photo says

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> UserFile:
        return cls(
            id=id_of(data, "id", "image_id"),
            filename=opt_str(data.get("filename")) or "",
            title=opt_str(data.get("title")),
            tags=opt_str_list(data.get("tags")) or [],
            media_type=opt_str(data.get("media_type")),
            content_type=opt_str(data.get("content_type")),
            size_bytes=int_or(data.get("size_bytes"), 0),
            content_category=opt_str(data.get("content_category")),
            description_status=DescriptionStatus.parse(data.get("description_status")),
            thumbnail_url=opt_str(data.get("thumbnail_url")),
            created_at=parse_datetime(data.get("created_at")),
            content_created_at=parse_datetime(data.get("content_created_at")),
        )


@dataclass(frozen=True)
class UserFileDetails:
    """Everything about one file (``files.get``)."""

    id: str
    filename: str
    media_type: str | None = None
    content_type: str | None = None
    size_bytes: int = 0
    content_hash: str | None = None
    object_key: str | None = None
    status: str | None = None
    title: str | None = None
    tags: list[str] = field(default_factory=list)  # the user's, then the description's
    user_tags: list[str] = field(default_factory=list)
    description: str | None = None
    key_elements: list[str] | None = None
    # "local" (offline models), "basic" (offline, measured facts only) or "standard" (a model)
    analysis_level: str | None = None
    provider_count: int | None = None
    visible_text: str | None = None
    text_regions: list[dict[str, Any]] | None = None
    confidence_score: float | None = None
    description_status: DescriptionStatus = DescriptionStatus.PENDING
    description_error: str | None = None
    description_error_type: str | None = None
    description_is_retryable: bool | None = None
    # providers that failed while others described the file: [{provider, error_type, message}]
    provider_errors: list[dict[str, Any]] = field(default_factory=list)
    # what the server's local vision models saw (None: not looked at): [{label, confidence}],
    # faces [{bbox: {x, y, width, height} normalised 0-1, confidence}], and 0-1 how likely
    # the picture is explicit
    labels: list[dict[str, Any]] | None = None
    faces: list[dict[str, Any]] | None = None
    safety_score: float | None = None
    content_category: str | None = None
    folder_id: str | None = None
    project_id: str | None = None
    dimensions: dict[str, int] | None = None
    format: str | None = None
    blur_hash: str | None = None
    variant_status: str | None = None
    thumbnail_url: str | None = None
    medium_url: str | None = None
    full_url: str | None = None
    original_url: str | None = None
    page_count: int | None = None
    chunk_count: int | None = None
    text_extraction_status: str | None = None
    embedding_status: str | None = None  # indexing for search by meaning
    embedding_model: str | None = None
    embedding_error: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    content_created_at: datetime | None = None

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> UserFileDetails:
        return cls(
            id=id_of(data, "id", "image_id"),
            filename=opt_str(data.get("filename")) or "",
            media_type=opt_str(data.get("media_type")),
            content_type=opt_str(data.get("content_type")),
            size_bytes=int_or(data.get("size_bytes"), 0),
            content_hash=opt_str(data.get("content_hash")),
            object_key=opt_str(data.get("object_key")),
            status=opt_str(data.get("status")),
            title=opt_str(data.get("title")),
            tags=opt_str_list(data.get("tags")) or [],
            user_tags=opt_str_list(data.get("user_tags")) or [],
            description=opt_str(data.get("description")),
            key_elements=opt_str_list(data.get("key_elements")),
            analysis_level=opt_str(data.get("analysis_level")),
            provider_count=opt_int(data.get("provider_count")),
            visible_text=opt_str(data.get("visible_text")),
            text_regions=opt_dict_list(data.get("text_regions")),
            confidence_score=opt_float(data.get("confidence_score")),
            description_status=DescriptionStatus.parse(data.get("description_status")),
            description_error=opt_str(data.get("description_error")),
            description_error_type=opt_str(data.get("description_error_type")),
            description_is_retryable=opt_bool(data.get("description_is_retryable")),
            provider_errors=opt_dict_list(data.get("provider_errors")) or [],
            labels=opt_dict_list(data.get("labels")),
            faces=opt_dict_list(data.get("faces")),
            safety_score=opt_float(data.get("safety_score")),
            content_category=opt_str(data.get("content_category")),
            folder_id=opt_str(data.get("folder_id")),
            project_id=opt_str(data.get("project_id")),
            dimensions=_dimensions(data.get("dimensions")),
            format=opt_str(data.get("format")),
            blur_hash=opt_str(data.get("blur_hash")),
            variant_status=opt_str(data.get("variant_status")),
            thumbnail_url=opt_str(data.get("thumbnail_url")),
            medium_url=opt_str(data.get("medium_url")),
            full_url=opt_str(data.get("full_url")),
            original_url=opt_str(data.get("original_url")),
            page_count=opt_int(data.get("page_count")),
            chunk_count=opt_int(data.get("chunk_count")),
            text_extraction_status=opt_str(data.get("text_extraction_status")),
            embedding_status=opt_str(data.get("embedding_status")),
            embedding_model=opt_str(data.get("embedding_model")),
            embedding_error=opt_str(data.get("embedding_error")),
            created_at=parse_datetime(data.get("created_at")),
            updated_at=parse_datetime(data.get("updated_at")),
            content_created_at=parse_datetime(data.get("content_created_at")),
        )


@dataclass(frozen=True)
class FileList:
    """One page of ``files.list``."""

    items: list[UserFile]
    total_count: int
    has_more: bool
    limit: int
    offset: int

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> FileList:
        items = data.get("items")
        if not isinstance(items, list):
            raise ValueError(f"file list has no items: keys {sorted(data)}")
        return cls(
            items=[UserFile.from_api_response(item) for item in items],
            total_count=int_or(data.get("total_count"), len(items)),
            has_more=data.get("has_more") is True,
            limit=int_or(data.get("limit"), len(items)),
            offset=int_or(data.get("offset"), 0),
        )


@dataclass(frozen=True)
class DocumentChunk:
    """A piece of a document's text (about 1,000 characters) and the pages it comes from."""

    index: int
    text: str
    page_numbers: list[int] = field(default_factory=list)

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> DocumentChunk:
        pages = data.get("page_numbers")
        return cls(
            index=int_or(data.get("index"), 0),
            text=opt_str(data.get("text")) or "",
            page_numbers=[p for p in pages if isinstance(p, int)]
            if isinstance(pages, list)
            else [],
        )


@dataclass(frozen=True)
class UpdateFileResult:
    """The file's title and tags after ``files.update``."""

    id: str
    title: str | None
    tags: list[str]
    updated_at: datetime | None = None

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> UpdateFileResult:
        return cls(
            id=id_of(data, "id"),
            title=opt_str(data.get("title")),
            tags=opt_str_list(data.get("tags")) or [],
            updated_at=parse_datetime(data.get("updated_at")),
        )


@dataclass(frozen=True)
class DeleteFileResult:
    """A deleted file (hidden at once; its bytes are purged after the retention window)."""

    id: str
    deleted_at: datetime | None = None
    message: str = ""

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> DeleteFileResult:
        return cls(
            id=id_of(data, "id"),
            deleted_at=parse_datetime(data.get("deleted_at")),
            message=opt_str(data.get("message")) or "",
        )


@dataclass(frozen=True)
class BatchDeleteFilesResponse:
    """What ``files.batch_delete`` did with each id."""

    deleted: list[DeleteFileResult]
    skipped: list[DeleteFileResult]  # already deleted
    failed: list[DeleteFileResult]  # not found, or not an id; ``message`` says which

    @property
    def summary(self) -> dict[str, int]:
        return {
            "total": len(self.deleted) + len(self.skipped) + len(self.failed),
            "deleted": len(self.deleted),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
        }

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> BatchDeleteFilesResponse:
        def entries(name: str) -> list[DeleteFileResult]:
            value = data.get(name)
            items = value if isinstance(value, list) else []
            return [DeleteFileResult.from_api_response(item) for item in items]

        return cls(deleted=entries("deleted"), skipped=entries("skipped"), failed=entries("failed"))
