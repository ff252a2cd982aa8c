"""``files.upload_batch``: many files in few requests, in parallel, results in input order.

The plan: expand directories (keeping supported files, reporting the others), optionally find
files with the same bytes inside the call, split the rest into requests within the tenant's batch
size and a byte budget, and send at most ``concurrency`` requests at a time. A refused file, or a
request that fails after its retries, becomes a failed ``UploadResult`` that says why and whether
sending it again may help: nothing is silently dropped, and one bad file never sinks the rest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from .._exceptions import (
    QuotaExceededError,
    RateLimitError,
    ScopixConnectionError,
    ScopixError,
    ScopixTimeoutError,
    ServerError,
    ValidationError,
)
from .._files import FileInput, UploadSource, source_of
from .._responses import parse
from ..types.enums import DescriptionStatus
from ..types.events import FileCompleteEvent, UploadProgressEvent
from ..types.transfer import TransferConfig
from ..types.upload import BatchUploadResults, UploadResult
from ._common import Counting, direct_fields
from ._direct import DirectUploader

if TYPE_CHECKING:
    from .files import Files

__all__ = ["MAX_FILES", "SUPPORTED_SUFFIXES", "BatchOptions", "expand", "run_batch"]

logger = logging.getLogger("scopix")

MAX_FILES = 10_000  # per call
DEFAULT_BATCH_FILES = 100  # per request, when the tier sets no limit
MAX_REQUEST_BYTES = 64 * 1024 * 1024  # per request (a bigger file goes alone)
DEFAULT_CONCURRENCY = 4
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".heic", ".heif", ".tif", ".tiff")
SUPPORTED_SUFFIXES = frozenset(
    (
        *IMAGE_SUFFIXES,
        ".bmp",
        ".pdf",
        ".docx",
        ".txt",
        ".md",
        ".mp4",
        ".mov",
        ".m4v",
        ".webm",
        ".avi",
    )
)


@dataclass(frozen=True)
class BatchOptions:
    fields: dict[str, str]  # the upload form fields shared by every file
    skip_duplicates: bool
    wait: bool
    wait_timeout: float | None
    on_progress: Callable[[UploadProgressEvent], object] | None
    on_file_complete: Callable[[FileCompleteEvent], object] | None
    transfer: TransferConfig  # files above its direct_threshold go direct


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _walk(root: Path, recursive: bool, include_hidden: bool) -> tuple[list[Path], list[Path]]:
    """(supported files, ignored files) under ``root``, in a stable order."""
    found = sorted(p for p in (root.rglob("*") if recursive else root.iterdir()) if p.is_file())
    if not include_hidden:
        found = [p for p in found if not _is_hidden(p, root)]
    keep = [p for p in found if p.suffix.lower() in SUPPORTED_SUFFIXES]
    ignored = [p for p in found if p.suffix.lower() not in SUPPORTED_SUFFIXES]
    return keep, ignored


def expand(
    files: FileInput | Sequence[FileInput], *, recursive: bool, include_hidden: bool
) -> tuple[list[UploadSource], list[str]]:
    """The sources to upload, in order, and the directory entries left out (unsupported)."""
    inputs: list[Any]
    if isinstance(files, (str, os.PathLike, bytes, bytearray, memoryview)) or hasattr(
        files, "read"
    ):
        inputs = [files]
    else:
        inputs = list(files)
    sources: list[UploadSource] = []
    ignored: list[str] = []
    for item in inputs:
        if isinstance(item, (str, os.PathLike)) and Path(item).is_dir():
            keep, left_out = _walk(Path(item), recursive, include_hidden)
            sources += [source_of(path) for path in keep]
            ignored += [str(path) for path in left_out]
        else:
            sources.append(source_of(item))
    if len(sources) > MAX_FILES:
        raise ValueError(
            f"{len(sources)} files in one call; upload_batch takes at most {MAX_FILES} "
            "(split the list and call it again)"
        )
    return sources, ignored


def _plan(indexes: list[int], sources: list[UploadSource], max_files: int) -> list[list[int]]:
    """Requests of at most ``max_files`` files and about ``MAX_REQUEST_BYTES``."""
    plan: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index in indexes:
        file_size = sources[index].size or 0
        if current and (len(current) >= max_files or size + file_size > MAX_REQUEST_BYTES):
            plan.append(current)
            current, size = [], 0
        current.append(index)
        size += file_size
    if current:
        plan.append(current)
    return plan


def failed_result(filename: str, message: str, error_type: str, retryable: bool) -> UploadResult:
    """A file that was not stored (``image_id`` is empty)."""
    return UploadResult(
        image_id="",
        filename=filename,
        description_status=DescriptionStatus.FAILED,
        description_error=message,
        description_error_type=error_type,
        description_is_retryable=retryable,
        status="failed",
    )


def _classify(error: Exception) -> tuple[str, bool]:
    """(error type, retryable) of a request that failed as a whole."""
    if isinstance(error, QuotaExceededError):
        return "resource_limit", False
    if isinstance(error, RateLimitError):
        return "rate_limit", True
    if isinstance(error, (ScopixTimeoutError, ScopixConnectionError)):
        return "timeout", True
    if isinstance(error, ServerError):
        return "unknown", True  # the server failed; sending again may work
    if isinstance(error, ValidationError):
        return "validation", False
    return "unknown", False


_REFUSAL_TYPES = {"QUOTA_EXCEEDED": ("resource_limit", False)}


class _Run:
    def __init__(self, files: Files, sources: list[UploadSource], options: BatchOptions) -> None:
        self.files = files
        self.sources = sources
        self.options = options
        self.results: list[UploadResult | None] = [None] * len(sources)
        self.sessions: list[str] = []
        self.digests: dict[int, str] = {}  # (hashed for skip_duplicates: not hashed again)

    def finish(self, index: int, result: UploadResult) -> None:
        self.results[index] = result
        if self.options.on_file_complete is not None:
            self.options.on_file_complete(FileCompleteEvent(index, result))

    async def send(self, chunk: list[int]) -> None:
        options = self.options
        with ExitStack() as stack:
            parts = []
            for index in chunk:
                source = self.sources[index]
                stream: Any = stack.enter_context(source.open())
                if options.on_progress is not None:
                    stream = Counting(
                        stream, index, source.filename, source.size, options.on_progress
                    )
                parts.append(("files", (source.filename, stream)))
            filenames = [self.sources[index].filename for index in chunk]
            try:
                response = await self.files._core.request(
                    "POST", "/files/upload/batch", files=parts, data=options.fields
                )
                session_id, results = parse(
                    response, lambda answer: _batch_answer(answer, filenames)
                )
            except ScopixError as error:
                error_type, retryable = _classify(error)
                logger.warning("a batch request of %d files failed: %s", len(chunk), error)
                for index in chunk:
                    self.finish(
                        index,
                        failed_result(
                            self.sources[index].filename, str(error), error_type, retryable
                        ),
                    )
                return
        self.sessions.append(session_id)
        for index, result in zip(chunk, results, strict=True):
            self.finish(index, result)

    async def send_direct(self, index: int) -> None:
        """One file above the streaming limit: straight to storage, in parts."""
        source = self.sources[index]
        uploader = DirectUploader(self.files._core, self.options.transfer)
        try:
            result = await uploader.upload(
                source,
                direct_fields(self.options.fields),
                self.options.on_progress,
                index=index,
                content_hash=self.digests.get(index),
            )
        except ScopixError as error:
            error_type, retryable = _classify(error)
            self.finish(index, failed_result(source.filename, str(error), error_type, retryable))
            return
        if self.options.wait and result.status != "skipped":
            await self.files.wait_for_description(
                result.image_id, timeout=self.options.wait_timeout
            )
            uploaded = result
            result = await self.files._read_file(
                uploaded.image_id,
                lambda details: UploadResult.from_api_response(
                    {
                        **details,
                        "filename": uploaded.filename,
                        "deduplicated": uploaded.deduplicated,
                    }
                ),
            )
        self.finish(index, result)

    async def described(self, session_id: str) -> None:
        """Wait for one request's files, then replace their results with the described ones."""
        await self.files.wait_for_session(session_id, timeout=self.options.wait_timeout)
        by_id = {}
        offset = 0
        while True:
            response = await self.files._core.request(
                "GET",
                f"/uploads/sessions/{session_id}/results",
                params={"limit": 500, "offset": offset},
            )
            items, has_more = parse(response, _results_page)
            by_id.update({item["id"]: item for item in items})
            offset += len(items)
            if not has_more or not items:
                break
        for index, result in enumerate(self.results):
            if result is not None and result.image_id in by_id and result.status != "skipped":
                details = by_id[result.image_id]
                self.results[index] = UploadResult.from_api_response(
                    {**details, "filename": result.filename}
                )


def _batch_answer(answer: dict[str, Any], filenames: list[str]) -> tuple[str, list[UploadResult]]:
    """A batch request's answer: its session id and one result per file, in order (a refused
    file's result is failed and says why)."""
    entries = answer["results"]
    if len(entries) != len(filenames):
        raise ValueError(f"{len(entries)} results for {len(filenames)} files")
    results = [_entry_result(entry, name) for entry, name in zip(entries, filenames, strict=True)]
    return str(answer["session_id"]), results


def _entry_result(entry: dict[str, Any], filename: str) -> UploadResult:
    """One file's entry of a batch answer: its stored result, or its refusal as a failed one."""
    if "error" not in entry:
        return UploadResult.from_api_response({**entry, "filename": filename})
    code = entry["error"].get("code", "")
    error_type, retryable = _REFUSAL_TYPES.get(code, ("validation", False))
    message = entry["error"].get("message") or code
    return failed_result(filename, message, error_type, retryable)


def _results_page(page: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """One page of a session's results (each an object with its file's ``id``), and whether
    more follow."""
    items = page["items"]
    for item in items:
        if not isinstance(item["id"], str):
            raise TypeError(f"a result's id is {item['id']!r}, not a string")
    return list(items), bool(page.get("has_more"))


async def run_batch(
    files: Files,
    sources: list[UploadSource],
    options: BatchOptions,
    *,
    concurrency: int | None,
) -> BatchUploadResults:
    run = _Run(files, sources, options)
    if not sources:
        return BatchUploadResults()
    quota = await files.check_quota(len(sources))
    if not quota.can_proceed:
        raise QuotaExceededError(
            quota.message or f"{len(sources)} uploads requested, {quota.available} left this month",
            available=quota.available,
            limit=quota.monthly_limit,
            requested=len(sources),
        )
    # files with the same bytes in this call: the first is uploaded, the others point at it
    first_of: dict[int, int] = {}
    if options.skip_duplicates:
        seen: dict[str, int] = {}
        for index, source in enumerate(sources):
            digest = await anyio.to_thread.run_sync(source.sha256)
            run.digests[index] = digest
            if digest in seen:
                first_of[index] = seen[digest]
            else:
                seen[digest] = index
    to_send = [i for i in range(len(sources)) if i not in first_of]
    threshold = options.transfer.direct_threshold
    large = [i for i in to_send if (sources[i].size or 0) > threshold]
    to_send = [i for i in to_send if i not in large]
    plan = _plan(to_send, sources, quota.max_batch_size or DEFAULT_BATCH_FILES)
    limit = concurrency or min(DEFAULT_CONCURRENCY, quota.max_concurrent_uploads or 64)
    if quota.max_concurrent_uploads:
        limit = min(limit, quota.max_concurrent_uploads)
    slots = anyio.CapacityLimiter(max(1, limit))

    async def send(chunk: list[int]) -> None:
        async with slots:
            await run.send(chunk)

    async def send_direct(index: int) -> None:
        async with slots:
            await run.send_direct(index)

    async with anyio.create_task_group() as group:
        for chunk in plan:
            group.start_soon(send, chunk)
        for index in large:
            group.start_soon(send_direct, index)
    if options.wait:
        async with anyio.create_task_group() as group:
            for session_id in run.sessions:
                group.start_soon(run.described, session_id)
    for index, first in first_of.items():
        original = run.results[first]
        assert original is not None
        filename = sources[index].filename
        if original.image_id:
            duplicate = UploadResult(
                image_id=original.image_id,
                filename=filename,
                description_status=DescriptionStatus.SKIPPED,
                media_type=original.media_type,
                status="skipped",
            )
        else:
            duplicate = failed_result(
                filename,
                original.description_error or "its twin in this batch failed",
                original.description_error_type or "unknown",
                bool(original.description_is_retryable),
            )
        run.finish(index, duplicate)
    results = BatchUploadResults(r for r in run.results if r is not None)
    assert len(results) == len(sources)
    return results
