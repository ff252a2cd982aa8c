"""Direct uploads: large files sent straight to storage in parallel parts (API.md §3).

One pass over the file: parts are read in order, hashed (SHA-256 of the whole file, checked by
the server at ``complete``) and handed to at most ``concurrency`` senders, so no more than
``concurrency * part_size`` bytes are held at once. A failed part is retried alone. A resume
asks the server which parts it holds and sends only the others (the file is still read whole,
to hash it). The upload of a path keeps a small state file until it completes, so that an
interrupted upload continues on the next ``upload()`` of the same unchanged file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import anyio
import httpx

from .._errors import make_status_error
from .._exceptions import (
    ScopixConnectionError,
    ScopixError,
    ScopixTimeoutError,
    UploadError,
    ValidationError,
)
from .._files import UploadSource
from .._responses import json_object, parse
from .._retry import is_retryable
from ..types.events import UploadProgressEvent
from ..types.transfer import TransferConfig
from ..types.upload import UploadResult

if TYPE_CHECKING:
    from .._base_client import HTTPCore

__all__ = ["DirectUploader"]

logger = logging.getLogger("scopix")

SLICE = 1024 * 1024  # progress granularity within a part
STATE_MAX_AGE = 8 * 24 * 3600  # longer than any upload's URLs live
CHECK_RATE = 20 * 1024 * 1024  # bytes/s: the slowest read-back a ``complete`` is given time for


@dataclass
class _Plan:
    """Where each part goes and what the server has already."""

    upload_id: str
    size: int
    part_size: int
    urls: dict[int, str]
    headers: dict[str, str] = field(default_factory=dict)
    received: set[int] = field(default_factory=set)
    etags: dict[int, str] = field(default_factory=dict)

    @property
    def part_count(self) -> int:
        return max(1, -(-self.size // self.part_size))

    def length(self, number: int) -> int:
        if number < self.part_count:
            return self.part_size
        return self.size - self.part_size * (self.part_count - 1)

    @classmethod
    def of(cls, data: dict[str, Any], size: int) -> _Plan:
        """From a start answer, or a state answer of a pending upload (URLs of missing parts)."""
        if data.get("parts") is not None or data.get("method") == "multipart":
            urls = {int(p["part_number"]): str(p["upload_url"]) for p in data.get("parts") or []}
            part_size = int(data["part_size"])
        else:
            urls = {1: str(data["upload_url"])} if data.get("upload_url") else {}
            part_size = size
        return cls(
            upload_id=str(data["upload_id"]),
            size=size,
            part_size=part_size,
            urls=urls,
            headers={str(k): str(v) for k, v in (data.get("upload_headers") or {}).items()},
            received={int(n) for n in data.get("received_parts") or []},
        )


class _StateFile:
    """``<state_dir>/<digest>.json``: the upload id of an unfinished upload of one file."""

    def __init__(self, folder: Path, base_url: str, path: Path) -> None:
        stat = path.stat()
        self.identity = {
            "base_url": base_url,
            "path": str(path.resolve()),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
        }
        digest = hashlib.sha256(json.dumps(self.identity, sort_keys=True).encode()).hexdigest()
        self.folder = folder
        self.path = folder / f"{digest[:32]}.json"

    def load(self) -> str | None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or any(data.get(k) != v for k, v in self.identity.items()):
            return None
        upload_id = data.get("upload_id")
        return upload_id if isinstance(upload_id, str) and upload_id else None

    def save(self, upload_id: str) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temp = self.path.with_suffix(f".{os.getpid()}.tmp")
            temp.write_text(json.dumps({**self.identity, "upload_id": upload_id}))
            os.replace(temp, self.path)
            self._forget_old()
        except OSError as error:  # resuming is a convenience: never fail the upload for it
            logger.warning("cannot keep the resume state in %s: %s", self.folder, error)

    def clear(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()

    def _forget_old(self) -> None:
        cutoff = time.time() - STATE_MAX_AGE
        for old in self.folder.glob("*.json"):
            with contextlib.suppress(OSError):
                if old.stat().st_mtime < cutoff:
                    old.unlink()


class _Progress:
    def __init__(
        self,
        total: int,
        filename: str,
        report: Callable[[UploadProgressEvent], object] | None,
        index: int,
    ) -> None:
        self.total = total
        self.filename = filename
        self.sent = 0
        self._report = report
        self._index = index

    def add(self, count: int) -> None:
        self.sent += count
        if self._report is not None:
            self._report(UploadProgressEvent(self._index, self.sent, self.total, self.filename))


def _leaf(error: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups of a task group."""
    inner = getattr(error, "exceptions", None)
    if not inner:
        return error
    leaves = [_leaf(e) for e in inner]
    real = [e for e in leaves if not isinstance(e, anyio.get_cancelled_exc_class())]
    return (real or leaves)[0]


class DirectUploader:
    """Runs one direct upload for ``Files.upload`` / ``Files.resume_upload``."""

    def __init__(self, core: HTTPCore, transfer: TransferConfig) -> None:
        self._core = core
        self._transfer = transfer

    def _state_file(self, source: UploadSource) -> _StateFile | None:
        if not self._transfer.resume or source.path is None:
            return None
        return _StateFile(self._transfer.state_path, self._core.config.base_url, source.path)

    async def upload(
        self,
        source: UploadSource,
        body: dict[str, Any],
        on_progress: Callable[[UploadProgressEvent], object] | None,
        *,
        resume_id: str | None = None,
        index: int = 0,
        content_hash: str | None = None,
    ) -> UploadResult:
        """Send ``source`` (``body``: the start request's options); ``index`` is the file's
        position in a batch, for the progress events; ``content_hash``: its hex SHA-256, when
        the caller has it already."""
        if source.size is None:
            raise TypeError(
                "a direct upload needs the file's size: pass a path, bytes or a seekable file"
            )
        state = self._state_file(source)
        upload_id = resume_id or (state.load() if state is not None else None)
        plan = (
            await self._resumable(upload_id, source.size, explicit=resume_id is not None)
            if upload_id
            else None
        )
        if plan is None and state is not None:
            state.clear()
        if plan is None:
            if body.get("skip_duplicates") and content_hash is None:
                # known before sending, so that a duplicate is not sent at all
                content_hash = await anyio.to_thread.run_sync(source.sha256)
            started, fresh = await self._start(source, source.size, body, content_hash)
            if fresh is None:
                return await self._deduplicated(started, source.filename)
            plan = fresh
            if state is not None:
                state.save(plan.upload_id)
        progress = _Progress(source.size, source.filename, on_progress, index)
        digest = await self._send(source, plan, progress)
        try:
            done = await self._complete(plan, digest, source.filename)
        except ValidationError as refused:
            if refused.status_code in (413, 415, 422) and state is not None:
                state.clear()  # the upload failed for good: its bytes were refused
            raise
        if state is not None:
            state.clear()
        return done

    async def _complete(self, plan: _Plan, digest: str, filename: str) -> UploadResult:
        """``complete``, given time to read the whole object back (the server checks its
        SHA-256); while another request of it is still at work (409 ``completing``, e.g. a
        retry after a timeout), wait and ask again: the answer is the same."""
        body = {
            "parts": [{"part_number": n, "etag": etag} for n, etag in sorted(plan.etags.items())],
            "content_hash": f"sha256:{digest}",
        }
        budget = self._core.config.timeout + plan.size / CHECK_RATE
        deadline = anyio.current_time() + budget
        while True:
            try:
                response = await self._core.request(
                    "POST",
                    f"/files/direct-uploads/{plan.upload_id}/complete",
                    json=body,
                    timeout=budget,
                )
            except ScopixError as error:
                busy = error.status_code == 409 and error.details.get("state") == "completing"
                if not busy or anyio.current_time() > deadline:
                    raise
                await self._core.sleep(self._core.config.polling_interval)
                continue
            return parse(
                response,
                lambda done: UploadResult.from_api_response({**done, "filename": filename}),
            )

    async def _start(
        self, source: UploadSource, size: int, body: dict[str, Any], content_hash: str | None
    ) -> tuple[dict[str, Any], _Plan | None]:
        """Announce the upload; the server's answer and the plan of the parts to send (no plan
        when the server has these bytes already: the answer names the stored file)."""
        payload = {"filename": source.filename, "size_bytes": size, **body}
        if content_hash is not None:
            payload["content_hash"] = f"sha256:{content_hash}"
        if self._transfer.part_size is not None:
            payload["part_size"] = self._transfer.part_size
        response = await self._core.request("POST", "/files/direct-uploads", json=payload)
        return parse(response, lambda started: _started(started, size))

    async def _resumable(self, upload_id: str, size: int, *, explicit: bool) -> _Plan | None:
        """The plan of a pending upload, with fresh URLs for its missing parts; ``None`` if it
        cannot be continued (then a new upload starts, unless the caller named this one)."""
        try:
            response = await self._core.request("GET", f"/files/direct-uploads/{upload_id}")
        except ScopixError as error:
            if explicit or error.status_code not in (404,):
                raise
            return None
        data = json_object(response)
        state = data.get("state")
        if state == "pending" and data.get("size_bytes") != size:
            state = f"pending for {data.get('size_bytes')} bytes, not {size}"
        if state != "pending":
            if explicit:
                raise UploadError(
                    f"direct upload {upload_id} is {state}; it cannot be resumed: upload the "
                    "file again",
                    stage="resume",
                    details={"upload_id": upload_id, "state": data.get("state")},
                )
            logger.info("direct upload %s is %s; starting a new one", upload_id, state)
            return None
        plan = parse(response, lambda pending: _Plan.of(pending, size))
        logger.info(
            "resuming direct upload %s: %d of %d parts already stored",
            upload_id, len(plan.received), plan.part_count,
        )  # fmt: skip
        return plan

    async def _deduplicated(self, started: dict[str, Any], filename: str) -> UploadResult:
        response = await self._core.request("GET", f"/files/{started['image_id']}")
        return parse(
            response,
            lambda details: UploadResult.from_api_response(
                {
                    **details,
                    "filename": filename,
                    "deduplicated": True,
                    "object_key": started.get("object_key") or details.get("object_key"),
                }
            ),
        )

    async def _send(self, source: UploadSource, plan: _Plan, progress: _Progress) -> str:
        """Send every missing part; the SHA-256 of the whole file (read once, in order)."""
        digest = hashlib.sha256()
        room = anyio.Semaphore(self._transfer.concurrency)
        with source.open() as stream:
            try:
                async with anyio.create_task_group() as group:
                    for number in range(1, plan.part_count + 1):
                        await room.acquire()
                        length = plan.length(number)
                        data = await anyio.to_thread.run_sync(_read_part, stream, length, digest)
                        if number in plan.received:
                            room.release()
                            progress.add(length)
                            continue
                        group.start_soon(self._send_part, plan, number, data, progress, room)
            except BaseException as error:
                leaf = _leaf(error)
                if leaf is error:
                    raise
                raise leaf from leaf.__cause__
        return digest.hexdigest()

    async def _send_part(
        self, plan: _Plan, number: int, data: bytes, progress: _Progress, room: anyio.Semaphore
    ) -> None:
        try:
            retry = 0
            while True:
                counted = [0]
                try:
                    plan.etags[number] = await self._put(plan, number, data, progress, counted)
                    return
                except ScopixError as error:
                    progress.add(-counted[0])
                    delay = self._core.policy.next_delay(retry, error)
                    if delay is None and isinstance(error, UploadError):
                        raise
                    if delay is None:
                        raise UploadError(
                            f"part {number} of direct upload {plan.upload_id} could not be "
                            f"sent ({error.message}; the storage may also close the connection "
                            "on a URL that has expired or is not valid); the parts sent so far "
                            f"are kept: continue with files.resume_upload({plan.upload_id!r}, "
                            "...) or upload the same path again",
                            stage="upload",
                            details={"upload_id": plan.upload_id, "part_number": number},
                        ) from error
                    logger.warning(
                        "part %d of direct upload %s failed: %s; retry %d in %.2fs",
                        number, plan.upload_id, error, retry + 1, delay,
                    )  # fmt: skip
                    await self._core.sleep(delay)
                    retry += 1
        finally:
            room.release()

    async def _put(
        self, plan: _Plan, number: int, data: bytes, progress: _Progress, counted: list[int]
    ) -> str:
        url = plan.urls.get(number)
        if url is None:
            raise UploadError(
                f"the server gave no URL for part {number} of direct upload {plan.upload_id}",
                stage="upload",
            )

        async def body() -> AsyncIterator[bytes]:
            view = memoryview(data)
            for start in range(0, len(view), SLICE):
                chunk = view[start : start + SLICE]
                yield chunk  # type: ignore[misc]
                counted[0] += len(chunk)
                progress.add(len(chunk))

        try:
            response = await self._core.http.put(
                url,
                content=body(),
                headers={**plan.headers, "Content-Length": str(len(data))},
            )
        except httpx.TimeoutException as exc:
            raise ScopixTimeoutError(f"part {number} timed out ({type(exc).__name__})") from exc
        except httpx.RequestError as exc:
            raise ScopixConnectionError(f"part {number} could not be sent: {exc}") from exc
        if response.status_code >= 400:
            error = make_status_error(response)
            if is_retryable(error):
                raise error
            raise UploadError(
                f"storage refused part {number} of direct upload {plan.upload_id} "
                f"(HTTP {response.status_code}): its URL has expired or is not valid; the "
                f"parts sent so far are kept: continue with "
                f"files.resume_upload({plan.upload_id!r}, ...) for fresh URLs",
                stage="upload",
                status_code=response.status_code,
                details={
                    "upload_id": plan.upload_id,
                    "part_number": number,
                    "storage_response": response.text[:500],
                },
            )
        etag: str = response.headers.get("ETag", "")
        return etag.strip('"')


def _started(data: dict[str, Any], size: int) -> tuple[dict[str, Any], _Plan | None]:
    """A start answer and its plan; no plan, but the stored file's ``image_id``, when the
    server had these bytes already."""
    if data.get("deduplicated"):
        if not isinstance(data.get("image_id"), str):
            raise KeyError("a deduplicated start answer without its image_id")
        return data, None
    return data, _Plan.of(data, size)


def _read_part(stream: IO[bytes], length: int, digest: Any) -> bytes:
    """The next ``length`` bytes of the file, added to ``digest`` (in a worker thread)."""
    data = stream.read(length)
    while len(data) < length:
        more = stream.read(length - len(data))
        if not more:
            raise UploadError(
                f"the file ended {length - len(data)} bytes early: it changed while it was "
                "being uploaded",
                stage="upload",
            )
        data += more
    digest.update(data)
    return data
