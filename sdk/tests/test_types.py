"""The seed types, field for field and default for default, and their API parsing."""

from __future__ import annotations

import dataclasses
import json
import pickle
from datetime import datetime, timezone
from typing import Any

import pytest

from scopix import (
    BatchUploadResults,
    DescriptionError,
    DescriptionErrorType,
    DescriptionFailure,
    DescriptionResult,
    DescriptionStatus,
    QuotaInfo,
    StorageTarget,
    UploadResult,
)

MISSING = dataclasses.MISSING


def fields_of(cls: type) -> list[tuple[str, Any]]:
    return [(f.name, f.default) for f in dataclasses.fields(cls)]


# --- the seed, as written (order, names, defaults) ---


def test_upload_result_matches_the_seed() -> None:
    assert fields_of(UploadResult) == [
        ("image_id", MISSING),
        ("filename", MISSING),
        ("description", None),
        ("tags", None),
        ("visible_text", None),
        ("text_regions", None),
        ("confidence_score", None),
        ("description_status", DescriptionStatus.PENDING),
        ("thumbnail_url", None),
        ("created_at", None),
        ("description_error", None),
        ("description_error_type", None),
        ("description_is_retryable", None),
        ("deduplicated", None),
        ("media_type", None),
        ("status", None),
        ("object_key", None),
    ]
    assert UploadResult.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_quota_info_matches_the_seed() -> None:
    assert fields_of(QuotaInfo) == [
        ("can_proceed", MISSING),
        ("requested", MISSING),
        ("available", MISSING),
        ("monthly_limit", MISSING),
        ("current_usage", MISSING),
        ("message", None),
        ("max_batch_size", None),
        ("prepaid_credits", 0),
        ("max_concurrent_uploads", None),
    ]
    assert QuotaInfo.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_description_result_matches_the_seed() -> None:
    assert fields_of(DescriptionResult) == [
        ("operation_id", MISSING),
        ("description", MISSING),
        ("confidence_score", None),
        ("key_elements", None),
        ("tags", None),
        ("visible_text", None),
        ("text_regions", None),
        ("analysis_level", "standard"),
        ("provider_count", 1),
        ("processing_time_ms", 0),
        ("metadata", None),
    ]


def test_description_failure_matches_the_seed() -> None:
    assert fields_of(DescriptionFailure) == [
        ("image_id", MISSING),
        ("error_message", MISSING),
        ("error_type", MISSING),
        ("is_retryable", MISSING),
        ("filename", None),
        ("raw_error", None),
    ]


def test_enums_match_the_seed() -> None:
    assert [(m.name, m.value) for m in DescriptionStatus] == [
        ("PENDING", "pending"),
        ("QUEUED", "queued"),
        ("PROCESSING", "processing"),
        ("COMPLETED", "completed"),
        ("FAILED", "failed"),
        ("SKIPPED", "skipped"),
    ]
    assert [(m.name, m.value) for m in DescriptionErrorType] == [
        ("TIMEOUT", "timeout"),
        ("RATE_LIMIT", "rate_limit"),
        ("VLM_ERROR", "vlm_error"),
        ("VALIDATION_ERROR", "validation"),
        ("RESOURCE_LIMIT", "resource_limit"),
        ("UNKNOWN", "unknown"),
    ]
    assert issubclass(DescriptionStatus, str) and DescriptionStatus.FAILED == "failed"
    assert [m.value for m in StorageTarget] == ["default", "custom"]


def test_retryable_split_of_error_types() -> None:
    retryable = {t for t in DescriptionErrorType if t.is_retryable}
    assert retryable == {
        DescriptionErrorType.TIMEOUT,
        DescriptionErrorType.RATE_LIMIT,
        DescriptionErrorType.VLM_ERROR,
    }


def test_terminal_statuses() -> None:
    assert {s for s in DescriptionStatus if s.is_terminal} == {
        DescriptionStatus.COMPLETED,
        DescriptionStatus.FAILED,
        DescriptionStatus.SKIPPED,
    }


# --- UploadResult ---


def result(described: DescriptionStatus = DescriptionStatus.COMPLETED, **kw: Any) -> UploadResult:
    kw.setdefault("image_id", f"id-{described.value}")
    kw.setdefault("filename", f"{described.value}.jpg")
    return UploadResult(description_status=described, **kw)


@pytest.mark.parametrize(
    ("status", "failed", "completed", "pending"),
    [
        (DescriptionStatus.PENDING, False, False, True),
        (DescriptionStatus.QUEUED, False, False, True),
        (DescriptionStatus.PROCESSING, False, False, True),
        (DescriptionStatus.COMPLETED, False, True, False),
        (DescriptionStatus.FAILED, True, False, False),
        (DescriptionStatus.SKIPPED, False, False, False),
    ],
)
def test_status_properties(
    status: DescriptionStatus, failed: bool, completed: bool, pending: bool
) -> None:
    r = result(status)
    assert (r.is_failed, r.is_completed, r.is_pending) == (failed, completed, pending)


def test_file_id_is_image_id() -> None:
    assert UploadResult(image_id="abc", filename="a.jpg").file_id == "abc"


def test_upload_result_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        result().description = "changed"  # type: ignore[misc]


def test_to_dict_is_json_ready_and_drops_none_by_default() -> None:
    when = datetime(2026, 11, 21, 10, 30, tzinfo=timezone.utc)
    r = result(tags=["a"], created_at=when)
    data = r.to_dict()
    assert data == {
        "image_id": "id-completed",
        "filename": "completed.jpg",
        "tags": ["a"],
        "description_status": "completed",
        "created_at": "2026-11-21T10:30:00Z",
    }
    json.dumps(data)
    full = r.to_dict(exclude_none=False)
    assert len(full) == 17 and full["description"] is None


API_RECORD = {
    "image_id": "5f0c2d4e-0000-4000-8000-000000000001",
    "filename": "receipt.jpg",
    "media_type": "image",
    "content_type": "image/jpeg",
    "size_bytes": 12345,
    "content_hash": "sha256:ab",
    "object_key": "t1/ab/cd",
    "status": "completed",
    "description_status": "completed",
    "description": "A paper receipt.",
    "tags": ["receipt", "paper"],
    "visible_text": "TOTAL 42.00",
    "text_regions": [
        {
            "text": "TOTAL",
            "confidence": 0.99,
            "bbox": {"x": 0.1, "y": 0.2, "width": 0.3, "height": 0.05},
            "polygon": [[0.1, 0.2], [0.4, 0.2], [0.4, 0.25], [0.1, 0.25]],
            "page": None,
        }
    ],
    "confidence_score": None,
    "skipped": False,
    "thumbnail_url": "http://127.0.0.1:8000/t.webp",
    "created_at": "2026-11-21T10:30:00Z",
    "description_error": None,
    "description_error_type": None,
    "description_is_retryable": None,
}


def test_upload_result_from_the_api_record() -> None:
    r = UploadResult.from_api_response(API_RECORD)
    assert r.image_id == API_RECORD["image_id"]
    assert r.description_status is DescriptionStatus.COMPLETED
    assert r.tags == ["receipt", "paper"]
    assert r.text_regions == API_RECORD["text_regions"]
    assert r.text_regions is not API_RECORD["text_regions"]  # a copy, not shared state
    assert r.created_at == datetime(2026, 11, 21, 10, 30, tzinfo=timezone.utc)
    assert (r.media_type, r.status, r.object_key) == ("image", "completed", "t1/ab/cd")
    assert pickle.loads(pickle.dumps(r)) == r


def test_skipped_duplicate_record() -> None:
    r = UploadResult.from_api_response(
        {
            "image_id": "new",
            "filename": "a.jpg",
            "status": "skipped",
            "skipped": True,
            "skipped_existing_image_id": "old",
        }
    )
    assert r.description_status is DescriptionStatus.SKIPPED


def test_parsing_is_forgiving_about_extras_and_unknowns() -> None:
    r = UploadResult.from_api_response(
        {
            "id": "x1",
            "original_filename": "b.png",
            "description_status": "brand-new-state",
            "tags": "a, b,,c",
            "confidence_score": "high",
            "created_at": "not a date",
            "unexpected_field": 1,
        }
    )
    assert (r.image_id, r.filename) == ("x1", "b.png")
    assert r.description_status is DescriptionStatus.PENDING
    assert r.tags == ["a", "b", "c"]
    assert r.confidence_score is None and r.created_at is None


def test_record_without_an_id_is_an_error() -> None:
    with pytest.raises(ValueError, match="no image_id"):
        UploadResult.from_api_response({"filename": "a.jpg"})


# --- BatchUploadResults ---


@pytest.fixture
def batch() -> BatchUploadResults:
    return BatchUploadResults(
        [
            result(DescriptionStatus.COMPLETED, image_id="ok1"),
            result(
                DescriptionStatus.FAILED,
                image_id="bad1",
                description_error="timed out",
                description_error_type="timeout",
                description_is_retryable=True,
            ),
            result(DescriptionStatus.COMPLETED, image_id="ok2"),
            result(DescriptionStatus.PROCESSING, image_id="wait1"),
            result(
                DescriptionStatus.FAILED,
                image_id="bad2",
                description_error="corrupt image",
                description_error_type="validation",
                description_is_retryable=False,
            ),
            result(DescriptionStatus.SKIPPED, image_id="dup1", status="skipped"),
            result(DescriptionStatus.SKIPPED, image_id="nodesc", status="completed"),
            result(DescriptionStatus.COMPLETED, image_id="ok3"),
        ]
    )


def ids(results: list[UploadResult]) -> list[str]:
    return [r.image_id for r in results]


def test_batch_is_a_list_in_input_order(batch: BatchUploadResults) -> None:
    assert isinstance(batch, list) and len(batch) == 8
    assert batch[0].image_id == "ok1" and batch[-1].image_id == "ok3"


def test_batch_groups(batch: BatchUploadResults) -> None:
    assert ids(batch.failed()) == ["bad1", "bad2"]
    assert ids(batch.succeeded()) == ["ok1", "ok2", "nodesc", "ok3"]
    assert ids(batch.pending()) == ["wait1"]
    assert ids(batch.skipped()) == ["dup1"]
    assert ids(batch.retryable()) == ["bad1"]
    # every result is in exactly one group
    groups = batch.failed() + batch.succeeded() + batch.pending() + batch.skipped()
    assert sorted(ids(groups)) == sorted(ids(batch))


def test_batch_counts(batch: BatchUploadResults) -> None:
    assert batch.has_failures is True
    assert (batch.failed_count, batch.succeeded_count, batch.pending_count) == (2, 4, 1)
    assert batch.skipped_count == 1


def test_summary_text(batch: BatchUploadResults) -> None:
    assert batch.summary() == "4 succeeded, 2 failed, 1 pending, 1 skipped"
    simple = BatchUploadResults([result(), result(), result(), result(DescriptionStatus.FAILED)])
    assert simple.summary() == "3 succeeded, 1 failed"
    assert BatchUploadResults().summary() == "0 succeeded, 0 failed"
    assert "3 succeeded, 1 failed" in repr(simple)


def test_raise_on_failures(batch: BatchUploadResults) -> None:
    with pytest.raises(DescriptionError) as info:
        batch.raise_on_failures()
    error = info.value
    assert error.image_id == "bad1" and error.status == "failed"
    assert "2 of 8 uploads failed" in error.message and "timed out" in error.message
    assert [f["image_id"] for f in error.details["failures"]] == ["bad1", "bad2"]
    clean = BatchUploadResults([result()])
    assert clean.raise_on_failures() is clean
    assert clean.has_failures is False


# --- QuotaInfo ---


def test_quota_info_from_api() -> None:
    quota = QuotaInfo.from_api_response(
        {
            "can_proceed": True,
            "requested": 5,
            "available": 495,
            "monthly_limit": 500,
            "current_usage": 5,
            "message": "ok",
            "max_batch_size": 50,
            "prepaid_credits": 0,
            "max_concurrent_uploads": 20,
        }
    )
    assert quota == QuotaInfo(True, 5, 495, 500, 5, "ok", 50, 0, 20)
    assert quota.to_dict()["available"] == 495


def test_quota_info_needs_can_proceed() -> None:
    with pytest.raises(ValueError, match="can_proceed"):
        QuotaInfo.from_api_response({"requested": 1})


# --- DescriptionResult ---


def test_description_result_from_api() -> None:
    d = DescriptionResult.from_api_response(
        {
            "operation_id": "op1",
            "description": "A cat.",
            "tags": ["cat"],
            "provider_count": 2,
            "processing_time_ms": 812,
            "metadata": {"provider": "basic"},
        }
    )
    assert (d.description, d.tags, d.provider_count, d.processing_time_ms) == (
        "A cat.",
        ["cat"],
        2,
        812,
    )
    assert d.analysis_level == "standard" and d.metadata == {"provider": "basic"}
    with pytest.raises(ValueError, match="operation_id"):
        DescriptionResult.from_api_response({"description": "x"})


# --- classify_error: every rule ---


@pytest.mark.parametrize(
    ("message", "kind", "retryable"),
    [
        # rate limits
        ("Rate limit exceeded for provider", DescriptionErrorType.RATE_LIMIT, True),
        ("HTTP 429 Too Many Requests", DescriptionErrorType.RATE_LIMIT, True),
        ("request was throttled", DescriptionErrorType.RATE_LIMIT, True),
        # quotas and resource limits
        ("Monthly description quota exceeded", DescriptionErrorType.RESOURCE_LIMIT, False),
        ("Insufficient credits", DescriptionErrorType.RESOURCE_LIMIT, False),
        ("usage limit exceeded", DescriptionErrorType.RESOURCE_LIMIT, False),
        # timeouts
        ("VLM request timed out after 30s", DescriptionErrorType.TIMEOUT, True),
        ("provider timeout", DescriptionErrorType.TIMEOUT, True),
        ("deadline exceeded", DescriptionErrorType.TIMEOUT, True),
        ("504 Gateway Timeout", DescriptionErrorType.TIMEOUT, True),
        # a malformed provider reply is the provider's error
        ("Model returned invalid JSON", DescriptionErrorType.VLM_ERROR, True),
        ("unexpected response from upstream", DescriptionErrorType.VLM_ERROR, True),
        # validation
        ("cannot identify image file", DescriptionErrorType.VALIDATION_ERROR, False),
        ("Unsupported media type", DescriptionErrorType.VALIDATION_ERROR, False),
        (
            "Image exceeds pixel limit: decompression bomb",
            DescriptionErrorType.VALIDATION_ERROR,
            False,
        ),
        ("truncated JPEG", DescriptionErrorType.VALIDATION_ERROR, False),
        ("Invalid image", DescriptionErrorType.VALIDATION_ERROR, False),
        # provider errors
        ("Provider returned 502 Bad Gateway", DescriptionErrorType.VLM_ERROR, True),
        ("model is overloaded", DescriptionErrorType.VLM_ERROR, True),
        ("Service unavailable", DescriptionErrorType.VLM_ERROR, True),
        ("connection reset by peer", DescriptionErrorType.VLM_ERROR, True),
        # nothing recognisable
        ("something odd happened", DescriptionErrorType.UNKNOWN, False),
        ("", DescriptionErrorType.UNKNOWN, False),
    ],
)
def test_classify_error_rules(message: str, kind: DescriptionErrorType, retryable: bool) -> None:
    assert DescriptionFailure.classify_error(message) == (kind, retryable)


def test_from_error_message() -> None:
    failure = DescriptionFailure.from_error_message("img1", "VLM request timed out", "a.jpg")
    assert failure == DescriptionFailure(
        image_id="img1",
        error_message="VLM request timed out",
        error_type=DescriptionErrorType.TIMEOUT,
        is_retryable=True,
        filename="a.jpg",
        raw_error="VLM request timed out",
    )
    assert failure.to_dict()["error_type"] == "timeout"


def test_from_upload_result_prefers_the_servers_classification() -> None:
    by_server = result(
        DescriptionStatus.FAILED,
        description_error="odd failure",
        description_error_type="rate_limit",
        description_is_retryable=True,
    )
    failure = DescriptionFailure.from_upload_result(by_server)
    assert (failure.error_type, failure.is_retryable) == (DescriptionErrorType.RATE_LIMIT, True)
    unclassified = result(DescriptionStatus.FAILED, description_error="corrupt image")
    failure = DescriptionFailure.from_upload_result(unclassified)
    assert failure.error_type is DescriptionErrorType.VALIDATION_ERROR
    assert failure.is_retryable is False
