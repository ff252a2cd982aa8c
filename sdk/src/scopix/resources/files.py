"""``client.files``: upload, read, wait for processing, list."""

from __future__ import annotations

import builtins  # (``Files.list`` shadows the name inside the class)
import logging
import os
import re
from collections.abc import AsyncGenerator, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar, overload

import httpx

from .._errors import make_status_error, unexpected_response
from .._exceptions import ScopixConnectionError, ScopixTimeoutError, ValidationError
from .._files import FileInput, source_of
from .._polling import poll_until
from .._responses import parse
from ..types.enums import StorageTarget
from ..types.events import FileCompleteEvent
from ..types.files import (
    BatchDeleteFilesResponse,
    DeleteFileResult,
    DocumentChunk,
    FileList,
    UpdateFileResult,
    UserFile,
    UserFileDetails,
)
from ..types.search import SimilarFiles
from ..types.status import ProcessingStatus, SessionProgress
from ..types.transfer import TransferConfig
from ..types.upload import BatchUploadResults, QuotaInfo, UploadResult
from ._batch import BatchOptions, expand, run_batch
from ._common import (
    Counting,
    UploadProgress,
    choice,
    direct_fields,
    form_fields,
    is_many,
    path_id,
)
from ._direct import DirectUploader

if TYPE_CHECKING:
    from .._base_client import HTTPCore

__all__ = ["Files"]

logger = logging.getLogger("scopix")

SEARCH_MODES = ("all", "metadata", "visible_text", "hybrid", "semantic")
SORT_FIELDS = ("created_at", "content_created_at", "title", "size_bytes")
VARIANTS = ("original", "tiny_64", "small_256", "medium_750", "large_1024")
QUOTED_BYTES = 200  # how much of an unusable download answer is read, to quote it

T = TypeVar("T")


class Files:
    """Files of your tenant. Reached as ``client.files``; every method is a coroutine."""

    def __init__(self, core: HTTPCore) -> None:
        self._core = core

    # --- uploading ---

    @overload
    async def upload(
        self,
        file: bytes | bytearray | memoryview | IO[bytes],
        *,
        filename: str | None = None,
        title: str | None = None,
        tags: Sequence[str] | None = None,
        folder_id: str | None = None,
        auto_describe: bool = True,
        skip_duplicates: bool = False,
        storage_target: StorageTarget | str = StorageTarget.DEFAULT,
        content_category: str = "general",
        wait: bool = False,
        on_progress: UploadProgress | None = None,
        transfer: TransferConfig | None = None,
    ) -> UploadResult: ...

    @overload
    async def upload(
        self,
        file: builtins.list[FileInput] | tuple[FileInput, ...],
        *,
        filename: str | None = None,
        title: str | None = None,
        tags: Sequence[str] | None = None,
        folder_id: str | None = None,
        auto_describe: bool = True,
        skip_duplicates: bool = False,
        storage_target: StorageTarget | str = StorageTarget.DEFAULT,
        content_category: str = "general",
        wait: bool = False,
        on_progress: UploadProgress | None = None,
        transfer: TransferConfig | None = None,
    ) -> BatchUploadResults: ...

    @overload
    async def upload(
        self,
        file: str | os.PathLike[str],
        *,
        filename: str | None = None,
        title: str | None = None,
        tags: Sequence[str] | None = None,
        folder_id: str | None = None,
        auto_describe: bool = True,
        skip_duplicates: bool = False,
        storage_target: StorageTarget | str = StorageTarget.DEFAULT,
        content_category: str = "general",
        wait: bool = False,
        on_progress: UploadProgress | None = None,
        transfer: TransferConfig | None = None,
    ) -> UploadResult | BatchUploadResults: ...

    async def upload(
        self,
        file: FileInput | builtins.list[FileInput] | tuple[FileInput, ...],
        *,
        filename: str | None = None,
        title: str | None = None,
        tags: Sequence[str] | None = None,
        folder_id: str | None = None,
        auto_describe: bool = True,
        skip_duplicates: bool = False,
        storage_target: StorageTarget | str = StorageTarget.DEFAULT,
        content_category: str = "general",
        wait: bool = False,
        on_progress: UploadProgress | None = None,
        transfer: TransferConfig | None = None,
    ) -> UploadResult | BatchUploadResults:
        """Upload one file; returns once its bytes are stored.

        Given a list of files or a directory, this is ``upload_batch`` and returns its
        ``BatchUploadResults``.

        Args:
            file: a path, ``bytes``, or a binary file object (read from its start).
            filename: the name to record (default: the path's or file object's name).
            title: up to 255 characters.
            tags: up to 40 tags of up to 50 characters.
            folder_id: a folder of your tenant.
            auto_describe: describe the file (``False``: store it only).
            skip_duplicates: if the tenant has these exact bytes already, store nothing and
                return the existing file (``description_status`` ``skipped``).
            storage_target: ``"default"`` or ``"custom"`` (your own bucket, where configured).
            content_category: steers the description, e.g. ``"blueprint"``, ``"screenshot"``.
            wait: poll until processing is over and return the described result.
            on_progress: called with an ``UploadProgressEvent`` as the bytes go out.
            transfer: how large files travel (``TransferConfig``): a file above its
                ``direct_threshold`` (100 MiB) goes straight to storage in parallel parts,
                with resume after an interruption. Its result fills ``deduplicated``,
                ``media_type``, ``status`` and ``object_key``.

        Raises:
            FileNotFoundError, IsADirectoryError, TypeError: ``file`` is not usable.
            ValidationError, QuotaExceededError, ScopixError: the server refused the upload.
            ScopixTimeoutError: ``wait=True`` and processing outlasted ``polling_timeout``.
        """
        if is_many(file):
            return await self.upload_batch(
                file,
                title=title,
                tags=tags,
                folder_id=folder_id,
                auto_describe=auto_describe,
                skip_duplicates=skip_duplicates,
                storage_target=storage_target,
                content_category=content_category,
                wait=wait,
                on_progress=on_progress,
                transfer=transfer,
            )
        assert not isinstance(file, (builtins.list, tuple))  # (the batch path took those)
        source = source_of(file, filename)
        fields = form_fields(
            title=title,
            tags=tags,
            folder_id=folder_id,
            auto_describe=auto_describe,
            skip_duplicates=skip_duplicates,
            storage_target=storage_target,
            content_category=content_category,
        )
        transfer = transfer or TransferConfig()
        direct = DirectUploader(self._core, transfer)
        if source.size is not None and source.size > transfer.direct_threshold:
            result = await direct.upload(source, direct_fields(fields), on_progress)
            return await self._finish_upload(result, wait)
        with source.open() as stream:
            body: Any = stream
            if on_progress is not None:
                body = Counting(stream, 0, source.filename, source.size, on_progress)
            try:
                response = await self._core.request(
                    "POST",
                    "/files/upload",
                    files={"file": (source.filename, body)},
                    data=fields,
                )
            except ValidationError as refused:
                # a server whose streaming limit is below the threshold: go direct instead
                if refused.code != "FILE_TOO_LARGE" or source.size is None:
                    raise
                logger.info("%s is over the streaming limit; sending it direct", source.filename)
                response = None
        if response is None:
            result = await direct.upload(source, direct_fields(fields), on_progress)
            return await self._finish_upload(result, wait)
        return await self._finish_upload(parse(response, UploadResult.from_api_response), wait)

    async def resume_upload(
        self,
        upload_id: str,
        file: str | os.PathLike[str] | bytes | IO[bytes],
        *,
        filename: str | None = None,
        wait: bool = False,
        on_progress: UploadProgress | None = None,
        transfer: TransferConfig | None = None,
    ) -> UploadResult:
        """Continue an interrupted direct upload: ask the server which parts it holds, send
        the others, then complete it. ``file`` must be the same bytes as before (the server
        checks their SHA-256 at completion).

        ``upload()`` of a path resumes by itself (see ``TransferConfig.resume``); this is for
        other sources, or when you kept the ``upload_id`` yourself.

        Raises:
            UploadError: the upload cannot be resumed (completed, aborted, expired, or for
                another size); upload the file again.
            ValidationError: the bytes differ from what was announced; nothing was kept.
        """
        source = source_of(file, filename)
        result = await DirectUploader(self._core, transfer or TransferConfig()).upload(
            source, {}, on_progress, resume_id=path_id(upload_id)
        )
        return await self._finish_upload(result, wait)

    async def _finish_upload(self, result: UploadResult, wait: bool) -> UploadResult:
        """With ``wait``: poll until processed, then the described result."""
        if wait and result.status != "skipped":
            await self.wait_for_description(result.image_id)
            uploaded = result
            result = await self._read_file(
                uploaded.image_id,
                lambda details: UploadResult.from_api_response(
                    {
                        **details,
                        "filename": uploaded.filename,
                        "deduplicated": uploaded.deduplicated,
                        "object_key": uploaded.object_key,
                    }
                ),
            )
        return result

    async def upload_batch(
        self,
        files: FileInput | Sequence[FileInput],
        *,
        recursive: bool = True,
        include_hidden: bool = False,
        title: str | None = None,
        tags: Sequence[str] | None = None,
        folder_id: str | None = None,
        auto_describe: bool = True,
        skip_duplicates: bool = False,
        storage_target: StorageTarget | str = StorageTarget.DEFAULT,
        content_category: str = "general",
        wait: bool = False,
        description_timeout: float | None = None,
        concurrency: int | None = None,
        on_progress: UploadProgress | None = None,
        on_file_complete: Callable[[FileCompleteEvent], object] | None = None,
        transfer: TransferConfig | None = None,
    ) -> BatchUploadResults:
        """Upload many files (a list, a directory, or both mixed); results in input order.

        Directories are walked (``recursive``; dot-files only with ``include_hidden``) and
        only supported files are taken: the others are listed in the result's ``ignored``.
        Files go in requests of up to the tenant's batch size, at most ``concurrency`` at a
        time (default 4, never more than the tenant's concurrent uploads). A refused file, or
        a request that failed after its retries, becomes a failed ``UploadResult``
        (``image_id`` empty) whose ``description_error`` says why and
        ``description_is_retryable`` whether sending it again may help.

        With ``skip_duplicates``, files with the same bytes as a stored file, or as an earlier
        file of this call, are not stored again (``skipped``). With ``wait``, the call returns
        once every stored file is processed (up to ``description_timeout``, default
        ``polling_timeout``, per request). Up to 10,000 files per call. Files above
        ``transfer.direct_threshold`` (100 MiB) go straight to storage in parts, each on its
        own (see ``upload``).

        Raises:
            QuotaExceededError: the tenant's quota cannot take this many files (nothing sent).
            ValueError, FileNotFoundError, TypeError: the input is not usable (nothing sent).
        """
        sources, ignored = expand(files, recursive=recursive, include_hidden=include_hidden)
        if ignored:
            logger.info("upload_batch: %d unsupported files left out", len(ignored))
        options = BatchOptions(
            fields=form_fields(
                title=title,
                tags=tags,
                folder_id=folder_id,
                auto_describe=auto_describe,
                skip_duplicates=skip_duplicates,
                storage_target=storage_target,
                content_category=content_category,
            ),
            skip_duplicates=skip_duplicates,
            wait=wait,
            wait_timeout=description_timeout,
            on_progress=on_progress,
            on_file_complete=on_file_complete,
            transfer=transfer or TransferConfig(),
        )
        results = await run_batch(self, sources, options, concurrency=concurrency)
        results.ignored = ignored
        return results

    # --- processing ---

    async def get_processing_status(self, file_id: str) -> ProcessingStatus:
        """Where the file's processing stands (``is_terminal`` once every step is over)."""
        response = await self._core.request("GET", f"/files/{path_id(file_id)}/status")
        return parse(response, ProcessingStatus.from_api_response)

    async def wait_for_description(
        self,
        file_id: str,
        *,
        timeout: float | None = None,
        on_progress: Callable[[ProcessingStatus], object] | None = None,
    ) -> ProcessingStatus:
        """Poll every ``polling_interval`` until processing is terminal; the final status.

        A failed description is returned, not raised: look at ``description_status`` and
        ``description_error``. Raises ``ScopixTimeoutError`` (``last_result`` = the last status)
        after ``timeout`` seconds (default: the client's ``polling_timeout``).
        """
        config = self._core.config
        return await poll_until(
            lambda: self.get_processing_status(file_id),
            lambda status: status.is_terminal,
            interval=config.polling_interval,
            timeout=config.polling_timeout if timeout is None else timeout,
            what=f"processing of file {file_id}",
            on_progress=on_progress,
        )

    async def get_session(self, session_id: str) -> SessionProgress:
        """How far the files of one batch request are."""
        response = await self._core.request("GET", f"/uploads/sessions/{path_id(session_id)}")
        return parse(response, SessionProgress.from_api_response)

    async def wait_for_session(
        self,
        session_id: str,
        *,
        timeout: float | None = None,
        on_progress: Callable[[SessionProgress], object] | None = None,
    ) -> SessionProgress:
        """Poll a batch request's session until none of its files is waiting; its progress.

        Raises ``ScopixTimeoutError`` (``last_result`` = the last progress) after ``timeout``
        seconds (default: the client's ``polling_timeout``).
        """
        config = self._core.config
        return await poll_until(
            lambda: self.get_session(session_id),
            lambda progress: progress.is_terminal,
            interval=config.polling_interval,
            timeout=config.polling_timeout if timeout is None else timeout,
            what=f"upload session {session_id}",
            on_progress=on_progress,
        )

    # --- reading ---

    async def _read_file(self, file_id: str, build: Callable[[dict[str, Any]], T]) -> T:
        """``GET /files/{id}``, its answer read by ``build`` (see ``parse``)."""
        response = await self._core.request("GET", f"/files/{path_id(file_id)}")
        return parse(response, build)

    async def get(self, file_id: str) -> UserFileDetails:
        """Everything about one file: description, tags, OCR text and regions, variant URLs."""
        return await self._read_file(file_id, UserFileDetails.from_api_response)

    async def list(
        self,
        *,
        search: str | None = None,
        search_mode: str = "all",
        tags: Sequence[str] | None = None,
        media_types: Sequence[str] | None = None,
        folder_id: str | None = None,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        has_description: bool | None = None,
        ids: Sequence[str] | None = None,
        sort_by: str = "created_at",
        sort_order: str = "desc",
        limit: int = 20,
        offset: int = 0,
        safe: bool = False,
    ) -> FileList:
        """One page of files, filtered and sorted on the server.

        ``search`` finds words (or their beginnings) in the filename, title, description and
        tags (``search_mode="metadata"``), in the text read from the file
        (``"visible_text"``), or in either (``"all"``); or ranks the files by relevance, best
        first, by meaning and words (``"hybrid"``) or by meaning alone (``"semantic"``), where
        the server searches by meaning. ``tags``: files must have all of them. ``safe``
        hides pictures whose safety score is over the tenant's threshold, and pictures not yet
        scored.
        """
        params: dict[str, Any] = {
            "search_mode": choice("search_mode", search_mode, SEARCH_MODES),
            "sort_by": choice("sort_by", sort_by, SORT_FIELDS),
            "sort_order": choice("sort_order", sort_order, ("asc", "desc")),
            "limit": limit,
            "offset": offset,
        }
        if not 1 <= limit <= 100:
            raise ValueError(f"limit must be from 1 to 100; got {limit}")
        if search:
            params["search"] = search
        if tags:
            params["tags"] = list(tags)
        if media_types:
            params["media_types"] = list(media_types)
        if folder_id:
            params["folder_id"] = folder_id
        if date_from is not None:
            params["date_from"] = date_from.isoformat()
        if date_to is not None:
            params["date_to"] = date_to.isoformat()
        if has_description is not None:
            params["has_description"] = "true" if has_description else "false"
        if ids:
            params["ids"] = list(ids)
        if safe:
            params["safe"] = "true"
        response = await self._core.request("GET", "/files", params=params)
        return parse(response, FileList.from_api_response)

    async def list_all(
        self,
        *,
        search: str | None = None,
        search_mode: str = "all",
        tags: Sequence[str] | None = None,
        media_types: Sequence[str] | None = None,
        folder_id: str | None = None,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        has_description: bool | None = None,
        sort_by: str = "created_at",
        sort_order: str = "desc",
        page_size: int = 50,
        safe: bool = False,
    ) -> AsyncGenerator[UserFile, None]:
        """Every matching file, page after page (``async for file in client.files.list_all()``).

        Pages are fetched by offset: files added while iterating with the default newest-first
        order shift later pages, so sort ascending for a stable walk of a growing library.
        """
        offset = 0
        while True:
            page = await self.list(
                search=search,
                search_mode=search_mode,
                tags=tags,
                media_types=media_types,
                folder_id=folder_id,
                date_from=date_from,
                date_to=date_to,
                has_description=has_description,
                sort_by=sort_by,
                sort_order=sort_order,
                limit=page_size,
                offset=offset,
                safe=safe,
            )
            for item in page.items:
                yield item
            if not page.has_more or not page.items:
                return
            offset += len(page.items)

    async def update(
        self, file_id: str, *, title: str | None = None, tags: Sequence[str] | None = None
    ) -> UpdateFileResult:
        """Change the title and/or the tags (your tags: the description's stay)."""
        if title is None and tags is None:
            raise ValueError("pass title, tags or both")
        if isinstance(tags, str):
            raise TypeError("tags must be a list of strings, e.g. tags=['beach', 'sunset']")
        body: dict[str, Any] = {}
        if title is not None:
            body["title"] = title
        if tags is not None:
            body["tags"] = builtins.list(tags)
        response = await self._core.request("PATCH", f"/files/{path_id(file_id)}", json=body)
        return parse(response, UpdateFileResult.from_api_response)

    async def delete(self, file_id: str) -> DeleteFileResult:
        """Delete a file: hidden at once, its bytes purged after the retention window."""
        response = await self._core.request("DELETE", f"/files/{path_id(file_id)}")
        return parse(response, DeleteFileResult.from_api_response)

    async def batch_delete(self, file_ids: Sequence[str]) -> BatchDeleteFilesResponse:
        """Delete up to 100 files in one request; each id is reported as deleted, skipped
        (already deleted) or failed (not found)."""
        ids = builtins.list(file_ids)
        if not 1 <= len(ids) <= 100:
            raise ValueError(f"batch_delete takes 1 to 100 ids; got {len(ids)}")
        response = await self._core.request("POST", "/files/batch-delete", json={"file_ids": ids})
        return parse(response, BatchDeleteFilesResponse.from_api_response)

    @overload
    async def download(self, file_id: str, path: None = None) -> bytes: ...

    @overload
    async def download(self, file_id: str, path: str | os.PathLike[str]) -> Path: ...

    async def download(
        self, file_id: str, path: str | os.PathLike[str] | None = None
    ) -> bytes | Path:
        """The original bytes; with ``path``, streamed to that file (written whole or not at
        all: a partial download never replaces it) and its ``Path`` returned.

        The file is written only from a 200 answer whose bytes all arrived (as many as its
        ``Content-Length`` says). Anything else raises, and leaves ``path`` as it was: the
        error of an error status, ``UnexpectedResponseError`` for any other status (such as a
        redirect to a login page), ``ScopixConnectionError`` or ``ScopixTimeoutError`` when the
        transfer breaks off."""
        if path is None:
            response = await self._core.request("GET", f"/files/{path_id(file_id)}/download")
            content: bytes = response.content
            return content
        target = Path(path)
        url = await self.get_variant(file_id, "original")  # signed: no key needed to read it
        partial = target.with_name(f".{target.name}.part")
        try:
            with partial.open("wb") as out:
                await self._fetch(url, out, target)
            partial.replace(target)
        except httpx.TimeoutException as exc:
            raise ScopixTimeoutError(
                f"the download of file {file_id} timed out ({type(exc).__name__}); nothing was "
                f"written to {target}"
            ) from exc
        except httpx.RequestError as exc:
            raise ScopixConnectionError(
                f"the download of file {file_id} broke off ({exc or type(exc).__name__}); "
                f"nothing was written to {target}"
            ) from exc
        finally:
            partial.unlink(missing_ok=True)
        return target

    async def _fetch(self, url: str, out: IO[bytes], target: Path) -> None:
        """The original at ``url`` into ``out``. A transfer that breaks off goes on from the
        bytes already written (``Range: bytes=N-``), as often as the client retries: an original
        never changes, so its bytes are the same at each request. A server that ignores the
        range sends it all again, and the file starts over."""
        retry, encoded = 0, False
        while True:
            if encoded:  # (a compressed body's bytes are not the file's: no range of them)
                out.seek(0)
                out.truncate()
            offset = out.tell()
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            try:
                async with self._core.http.stream("GET", url, headers=headers) as response:
                    encoded = _encoded(response)
                    await _save(response, out, target, offset=offset)
                return
            except (httpx.TransportError, _BrokenOff) as exc:
                broken = ScopixConnectionError(f"the download broke off: {exc}")
                delay = self._core.policy.next_delay(retry, broken)
                if delay is None:
                    if isinstance(exc, _BrokenOff):
                        raise ScopixConnectionError(
                            f"{exc}; nothing was written to {target}",
                            status_code=exc.status_code,
                        ) from None
                    raise
                logger.warning("%s; going on from byte %d in %.1f s", broken, out.tell(), delay)
                await self._core.sleep(delay)
                retry += 1

    async def get_variant(self, file_id: str, variant_type: str = "medium_750") -> str:
        """A signed, expiring URL of a variant: ``original``, ``tiny_64``, ``small_256``,
        ``medium_750`` or ``large_1024`` (resized variants exist once the file is processed;
        before that, ``ResourceNotFoundError`` says why)."""
        choice("variant_type", variant_type, VARIANTS)
        response = await self._core.request(
            "GET", f"/files/{path_id(file_id)}/variants/{variant_type}", allow_redirect=True
        )
        location: str | None = response.headers.get("location")
        if not location:
            raise unexpected_response(response, "no Location header where a redirect belongs")
        return location

    async def get_text(self, file_id: str) -> str:
        """A document's extracted text (``ValidationError`` for other media)."""
        response = await self._core.request("GET", f"/files/{path_id(file_id)}/text")
        text: str = response.text
        return text

    async def get_chunks(self, file_id: str) -> builtins.list[DocumentChunk]:
        """Every chunk of a document's text (about 1,000 characters each, overlapping)."""
        chunks: builtins.list[DocumentChunk] = []
        while True:
            response = await self._core.request(
                "GET",
                f"/files/{path_id(file_id)}/chunks",
                params={"limit": 500, "offset": len(chunks)},
            )
            page, has_more = parse(response, _chunk_page)
            chunks += page
            if not has_more or not page:
                return chunks

    async def similar(self, file_id: str, *, limit: int = 10) -> SimilarFiles:
        """Files like ``file_id``: near-duplicate pictures first (resized, re-encoded or lightly
        cropped copies, ``near_duplicate=True``), then the files nearest to it by meaning."""
        if not 1 <= limit <= 100:
            raise ValueError(f"limit must be from 1 to 100; got {limit}")
        response = await self._core.request(
            "GET", f"/files/{path_id(file_id)}/similar", params={"limit": limit}
        )
        return parse(response, SimilarFiles.from_api_response)

    async def describe(self, file_id: str) -> ProcessingStatus:
        """Describe the file again (e.g. after a retryable failure); poll it with
        ``wait_for_description``. While it is being described: ``ScopixError`` code CONFLICT."""
        response = await self._core.request("POST", f"/files/{path_id(file_id)}/describe")
        return parse(response, ProcessingStatus.from_api_response)

    async def check_quota(self, file_count: int = 1) -> QuotaInfo:
        """Whether ``file_count`` more uploads fit in the tenant's quota, and its limits."""
        if file_count < 1:
            raise ValueError(f"file_count must be at least 1; got {file_count}")
        response = await self._core.request(
            "GET", "/uploads/quota-check", params={"file_count": file_count}
        )
        return parse(response, QuotaInfo.from_api_response)


def _chunk_page(data: dict[str, Any]) -> tuple[builtins.list[DocumentChunk], bool]:
    """One page of ``/chunks``: its chunks, and whether more follow."""
    items = data.get("items") or []
    return [DocumentChunk.from_api_response(item) for item in items], bool(data.get("has_more"))


class _BrokenOff(Exception):
    """The body ended before the bytes its headers announced (the server closed early)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


_CONTENT_RANGE = re.compile(r"bytes (\d{1,18})-(\d{1,18})/(\d{1,18})")  # (bounded: int())


async def _save(response: httpx.Response, out: IO[bytes], target: Path, *, offset: int) -> None:
    """Write a download's body to ``out`` (which holds ``offset`` bytes already), or raise: only
    a 200 is the file (or, going on from ``offset``, the range from there), and only all of it
    (as many bytes as the server announces) is written whole."""
    if response.status_code >= 400:
        await response.aread()
        raise make_status_error(response)
    ranged = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
    going_on = offset > 0 and ranged is not None and int(ranged.group(1)) == offset
    # (a 206, or a 200 carrying the range asked for, as some S3 servers answer)
    if not (response.status_code == 200 or (going_on and response.status_code == 206)):
        raise unexpected_response(
            response,
            f"something other than the whole file (200 OK); nothing was written to {target}",
            body=await _start_of(response),
        )
    if not going_on:  # (the whole file, from its first byte)
        out.seek(0)
        out.truncate()
    async for chunk in response.aiter_bytes():  # (written as it comes: a break keeps it)
        out.write(chunk)
    announced = response.headers.get("content-length", "").strip()
    # (of a compressed body, Content-Length counts the compressed bytes, not those written)
    if announced.isdigit() and not _encoded(response):
        expected = (offset if going_on else 0) + int(announced)
        if out.tell() != expected:
            raise _BrokenOff(
                f"the download received {out.tell()} bytes where {expected} were announced",
                response.status_code,
            )


def _encoded(response: httpx.Response) -> bool:
    coding: str = response.headers.get("content-encoding", "identity")
    return coding.strip().lower() != "identity"


async def _start_of(response: httpx.Response) -> bytes:
    """The first bytes of a streamed body, enough to quote in an error, without reading it all."""
    start = b""
    async for chunk in response.aiter_bytes():
        start += chunk
        if len(start) >= QUOTED_BYTES:
            break
    return start
