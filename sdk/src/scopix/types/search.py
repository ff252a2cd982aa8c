"""Search result types: agent search over images and documents, and files similar to one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._convert import int_or, opt_dict_list, opt_float, opt_int, opt_str, to_dict
from .files import id_of

__all__ = [
    "DocumentChunkResultItem",
    "DocumentSearchAgentResult",
    "ImageSearchAgentResult",
    "ImageSearchResultItem",
    "SimilarFile",
    "SimilarFiles",
]


def _ids(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _ints(value: Any) -> list[int]:
    return [v for v in value if isinstance(v, int)] if isinstance(value, list) else []


@dataclass(frozen=True)
class ImageSearchResultItem:
    """One image found by ``agent_search.images``."""

    image_id: str
    score: float  # relevance, 0-1
    filename: str | None = None
    title: str | None = None
    description: str | None = None
    folder_id: str | None = None
    thumbnail_url: str | None = None
    matched: str | None = None  # what matched best: "description" or "text" (visible text)
    features: list[dict[str, Any]] | None = None

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> ImageSearchResultItem:
        return cls(
            image_id=id_of(data, "image_id", "id"),
            score=opt_float(data.get("score")) or 0.0,
            filename=opt_str(data.get("filename")),
            title=opt_str(data.get("title")),
            description=opt_str(data.get("description")),
            folder_id=opt_str(data.get("folder_id")),
            thumbnail_url=opt_str(data.get("thumbnail_url")),
            matched=opt_str(data.get("matched")),
            features=opt_dict_list(data.get("features")),
        )


def _envelope(data: Mapping[str, Any]) -> dict[str, Any]:
    strategy = data.get("search_strategy")
    usage = data.get("token_usage")
    return {
        "success": data.get("success") is not False,
        "count": int_or(data.get("count"), 0),
        "summary": opt_str(data.get("summary")) or "",
        "summary_raw": opt_str(data.get("summary_raw")) or "",
        "result_refs": _mapping(data.get("result_refs")),
        "search_mode": opt_str(data.get("search_mode")),
        "execution_time_ms": int_or(data.get("execution_time_ms"), 0),
        "iterations": int_or(data.get("iterations"), 0),
        "search_strategy": dict(strategy) if isinstance(strategy, Mapping) else None,
        "token_usage": (
            {k: v for k, v in usage.items() if isinstance(v, int)}
            if isinstance(usage, Mapping)
            else None
        ),
    }


@dataclass(frozen=True)
class ImageSearchAgentResult:
    """What ``agent_search.images`` found, best first."""

    success: bool = True
    results: list[ImageSearchResultItem] = field(default_factory=list)
    count: int = 0
    result_ids: list[str] = field(default_factory=list)
    summary: str = ""
    summary_raw: str = ""  # the summary with [[ref:X]] markers, where the service adds them
    result_refs: dict[str, Any] = field(default_factory=dict)
    search_mode: str | None = None  # hybrid, semantic or lexical
    execution_time_ms: int = 0
    iterations: int = 0
    search_strategy: dict[str, Any] | None = None
    token_usage: dict[str, int] | None = None

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> ImageSearchAgentResult:
        raw = data.get("results")
        items = [
            ImageSearchResultItem.from_api_response(item)
            for item in (raw if isinstance(raw, list) else [])
            if isinstance(item, Mapping)
        ]
        return cls(
            **_envelope(data),
            results=items,
            result_ids=_ids(data.get("result_ids")) or [item.image_id for item in items],
        )


@dataclass(frozen=True)
class DocumentChunkResultItem:
    """One passage found by ``agent_search.documents``."""

    chunk_id: str
    document_id: str
    document_filename: str
    text: str
    score: float  # relevance, 0-1
    page_numbers: list[int] | None = None
    chunk_index: int | None = None

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> DocumentChunkResultItem:
        document_id = id_of(data, "document_id")
        index = opt_int(data.get("chunk_index"))
        return cls(
            chunk_id=opt_str(data.get("chunk_id")) or f"{document_id}:{index}",
            document_id=document_id,
            document_filename=opt_str(data.get("document_filename"))
            or opt_str(data.get("filename"))
            or "",
            text=opt_str(data.get("text")) or "",
            score=opt_float(data.get("score")) or 0.0,
            page_numbers=_ints(data.get("page_numbers")) if "page_numbers" in data else None,
            chunk_index=index,
        )


@dataclass(frozen=True)
class DocumentSearchAgentResult:
    """What ``agent_search.documents`` found: passages, best first."""

    success: bool = True
    results: list[DocumentChunkResultItem] = field(default_factory=list)
    count: int = 0
    chunk_ids: list[str] = field(default_factory=list)
    document_ids: list[str] = field(default_factory=list)
    summary: str = ""
    summary_raw: str = ""  # the summary with [[ref:X]] markers, where the service adds them
    result_refs: dict[str, Any] = field(default_factory=dict)
    search_mode: str | None = None  # hybrid, semantic or lexical
    execution_time_ms: int = 0
    iterations: int = 0
    search_strategy: dict[str, Any] | None = None
    token_usage: dict[str, int] | None = None

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> DocumentSearchAgentResult:
        raw = data.get("results")
        items = [
            DocumentChunkResultItem.from_api_response(item)
            for item in (raw if isinstance(raw, list) else [])
            if isinstance(item, Mapping)
        ]
        return cls(
            **_envelope(data),
            results=items,
            chunk_ids=_ids(data.get("chunk_ids")) or [item.chunk_id for item in items],
            document_ids=_ids(data.get("document_ids"))
            or list(dict.fromkeys(item.document_id for item in items)),
        )


@dataclass(frozen=True)
class SimilarFile:
    """A file like the one asked about (``files.similar``)."""

    id: str
    score: float  # 0-1
    filename: str | None = None
    title: str | None = None
    media_type: str | None = None
    near_duplicate: bool = False  # the same picture, resized, re-encoded or lightly cropped
    hash_distance: int | None = None  # differing bits of 64, for near-duplicates
    thumbnail_url: str | None = None

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> SimilarFile:
        return cls(
            id=id_of(data, "id", "image_id", "file_id"),
            score=opt_float(data.get("score")) or 0.0,
            filename=opt_str(data.get("filename")),
            title=opt_str(data.get("title")),
            media_type=opt_str(data.get("media_type")),
            near_duplicate=data.get("near_duplicate") is True,
            hash_distance=opt_int(data.get("hash_distance")),
            thumbnail_url=opt_str(data.get("thumbnail_url")),
        )


@dataclass(frozen=True)
class SimilarFiles:
    """``files.similar``: near-duplicates first, then the nearest by meaning."""

    file_id: str
    items: list[SimilarFile] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def near_duplicates(self) -> list[SimilarFile]:
        return [item for item in self.items if item.near_duplicate]

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> SimilarFiles:
        raw = data.get("items", data.get("results"))
        return cls(
            file_id=id_of(data, "file_id", "id"),
            items=[
                SimilarFile.from_api_response(item)
                for item in (raw if isinstance(raw, list) else [])
                if isinstance(item, Mapping)
            ],
        )
