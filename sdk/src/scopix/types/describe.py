"""Description types: ``DescriptionResult``, ``DescriptionErrorType`` and ``DescriptionFailure``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Optional

from .._convert import int_or, opt_dict_list, opt_float, opt_str, opt_str_list, to_dict

if TYPE_CHECKING:
    from .upload import UploadResult

__all__ = ["DescriptionResult", "DescriptionErrorType", "DescriptionFailure"]


@dataclass(frozen=True)
class DescriptionResult:
    """Structured description output."""

    operation_id: str  # Unique operation identifier
    description: str  # Main AI-generated description
    confidence_score: Optional[float] = None
    key_elements: Optional[list[str]] = None  # Key elements detected in image
    tags: Optional[list[str]] = None
    visible_text: Optional[str] = None  # OCR-extracted text
    # OCR entries with normalized (0-1) bounding boxes
    text_regions: Optional[list[dict[str, Any]]] = None
    analysis_level: str = "standard"
    provider_count: int = 1  # Number of AI providers used
    processing_time_ms: int = 0
    metadata: Optional[dict[str, Any]] = None

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)

    @classmethod
    def from_api_response(cls, data: Mapping[str, Any]) -> DescriptionResult:
        """Parse a description object of the API."""
        operation_id = data.get("operation_id") or data.get("id") or data.get("image_id")
        if not isinstance(operation_id, str) or not operation_id:
            raise ValueError(f"description has no operation_id: keys {sorted(data)}")
        metadata = data.get("metadata")
        return cls(
            operation_id=operation_id,
            description=opt_str(data.get("description")) or "",
            confidence_score=opt_float(data.get("confidence_score")),
            key_elements=opt_str_list(data.get("key_elements")),
            tags=opt_str_list(data.get("tags")),
            visible_text=opt_str(data.get("visible_text")),
            text_regions=opt_dict_list(data.get("text_regions")),
            analysis_level=opt_str(data.get("analysis_level")) or "standard",
            provider_count=int_or(data.get("provider_count"), 1),
            processing_time_ms=int_or(data.get("processing_time_ms"), 0),
            metadata=dict(metadata) if isinstance(metadata, dict) else None,
        )


class DescriptionErrorType(str, Enum):
    """Classification of description generation errors for retry strategies."""

    TIMEOUT = "timeout"  # AI provider timed out (retryable)
    RATE_LIMIT = "rate_limit"  # Rate limit exceeded (retryable)
    VLM_ERROR = "vlm_error"  # AI provider error (retryable)
    VALIDATION_ERROR = "validation"  # Input validation failed (permanent)
    RESOURCE_LIMIT = "resource_limit"  # Quota exceeded (permanent)
    UNKNOWN = "unknown"  # Unclassified (not retryable)

    @property
    def is_retryable(self) -> bool:
        return self in _RETRYABLE_TYPES


_RETRYABLE_TYPES = frozenset(
    {DescriptionErrorType.TIMEOUT, DescriptionErrorType.RATE_LIMIT, DescriptionErrorType.VLM_ERROR}
)

# Keyword rules of classify_error, tried in this order (first match wins). The order settles
# overlaps: "rate limit exceeded" is a rate limit, not a quota; "invalid JSON from the model" is a
# provider error, while "invalid image" is a validation error.
_RULES: tuple[tuple[DescriptionErrorType, re.Pattern[str]], ...] = (
    (
        DescriptionErrorType.RATE_LIMIT,
        re.compile(r"rate[\s_-]?limit|too many requests|\b429\b|throttl", re.I),
    ),
    (
        DescriptionErrorType.RESOURCE_LIMIT,
        re.compile(
            r"quota|insufficient (?:credits?|funds|balance)|out of credits|usage limit|"
            r"limit exceeded|resource[\s_-]?limit|storage (?:is )?full",
            re.I,
        ),
    ),
    (
        DescriptionErrorType.TIMEOUT,
        re.compile(r"tim(?:e|ed|es)[\s_-]?out|deadline exceeded|\b504\b", re.I),
    ),
    (
        # A bad answer *from the provider* is the provider's fault, however it is worded.
        DescriptionErrorType.VLM_ERROR,
        re.compile(
            r"(?:invalid|malformed|unexpected|empty|unparseable) (?:json|response|output|reply)",
            re.I,
        ),
    ),
    (
        DescriptionErrorType.VALIDATION_ERROR,
        re.compile(
            r"invalid|validation|unsupported|not supported|corrupt|malformed|cannot identify|"
            r"cannot decode|could not decode|truncated|too large|too small|decompression bomb|"
            r"pixel (?:limit|cap)|\b(?:400|413|415|422)\b",
            re.I,
        ),
    ),
    (
        DescriptionErrorType.VLM_ERROR,
        re.compile(
            r"\bvlm\b|provider|\bmodel\b|upstream|overloaded|unavailable|bad gateway|"
            r"internal server error|server error|connection (?:reset|refused|error|aborted)|"
            r"\b50[0-3]\b",
            re.I,
        ),
    ),
)


@dataclass(frozen=True)
class DescriptionFailure:
    """Details about a failed description operation with error classification."""

    image_id: str  # ID of the image that failed
    error_message: str  # Human-readable error message
    error_type: DescriptionErrorType  # Classification of the error
    is_retryable: bool  # Whether the operation can be retried
    filename: Optional[str] = None  # Original filename
    raw_error: Optional[str] = None  # Original error details

    @staticmethod
    def classify_error(error_msg: str) -> tuple[DescriptionErrorType, bool]:
        """Classify an error message: ``(error type, whether a retry may help)``.

        Keyword rules, first match wins: rate limit (429, "too many requests", throttling) ->
        ``RATE_LIMIT``; quota, credits, "limit exceeded" -> ``RESOURCE_LIMIT``; timeouts ->
        ``TIMEOUT``; a malformed provider reply ("invalid JSON") -> ``VLM_ERROR``; invalid,
        unsupported, corrupt, too large, decompression bomb -> ``VALIDATION_ERROR``; provider,
        model, overloaded, 500-503 -> ``VLM_ERROR``; anything else -> ``UNKNOWN``.
        Timeouts, rate limits and provider errors are retryable; the rest are not.
        """
        text = error_msg or ""
        for error_type, pattern in _RULES:
            if pattern.search(text):
                return error_type, error_type.is_retryable
        return DescriptionErrorType.UNKNOWN, False

    @classmethod
    def from_error_message(
        cls, image_id: str, error_msg: str, filename: Optional[str] = None
    ) -> DescriptionFailure:
        """A failure classified from its message (see ``classify_error``)."""
        error_type, retryable = cls.classify_error(error_msg)
        return cls(
            image_id=image_id,
            error_message=error_msg.strip() or "Unknown error",
            error_type=error_type,
            is_retryable=retryable,
            filename=filename,
            raw_error=error_msg,
        )

    @classmethod
    def from_upload_result(cls, result: UploadResult) -> DescriptionFailure:
        """The failure of a failed ``UploadResult``; the server's own classification wins."""
        message = result.description_error or "Description failed"
        try:
            error_type = DescriptionErrorType(result.description_error_type or "")
        except ValueError:
            return cls.from_error_message(result.image_id, message, result.filename)
        retryable = (
            result.description_is_retryable
            if result.description_is_retryable is not None
            else error_type.is_retryable
        )
        return cls(
            image_id=result.image_id,
            error_message=message,
            error_type=error_type,
            is_retryable=retryable,
            filename=result.filename,
            raw_error=result.description_error,
        )

    def to_dict(self, exclude_none: bool = True) -> dict[str, Any]:
        return to_dict(self, exclude_none=exclude_none)
