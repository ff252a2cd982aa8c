"""Direct uploads into an S3 bucket: the client sends the bytes to the bucket itself.

A direct upload's bytes land under ``direct/<upload id>``, either by one presigned
``PutObject`` or by a multipart upload whose parts have presigned ``UploadPart`` URLs (SigV4: a
changed URL is refused by the bucket, an old one has expired). At ``complete`` the multipart
upload is finished and the object is read once to hash it: ranged ``GetObject`` requests a few at
a time, hashed in order, so memory stays bounded whatever the size. Accepted bytes stay where
they are: the object becomes the file's ``object_key`` (no copy: copying doubled the time of a
300 MB ``complete``). Keys under ``direct/`` are never swept as orphans: an unfinished upload's
object goes with its upload (abort, failure or expiry), a finished one with its file's purge.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, BinaryIO

from .s3 import S3Storage

__all__ = ["DIRECT_PREFIX", "S3Staged", "S3Uploads"]

DIRECT_PREFIX = "direct/"
PRESIGN_MAX_SECONDS = 7 * 24 * 3600  # SigV4's limit
HEAD_READ = 1024 * 1024
RANGE_BYTES = 8 * 1024 * 1024
RANGES_IN_FLIGHT = 4  # at most this many ranges (of RANGE_BYTES) held while hashing
REFUSED_PARTS = {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "EntityTooLarge"}

with contextlib.suppress(ImportError):  # (only without the extra)
    from botocore.exceptions import ClientError


def _code(error: Exception) -> str:
    response: dict[str, Any] = getattr(error, "response", {}) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3Uploads:
    """The bucket side of direct uploads (blocking calls: run them in a worker thread)."""

    def __init__(self, storage: S3Storage) -> None:
        self.storage = storage
        self._client = storage._client
        self._bucket = storage.bucket

    def object_key(self, upload_id: str) -> str:
        return f"{DIRECT_PREFIX}{upload_id}"

    def _key(self, upload_id: str) -> str:
        return self.storage.key_of(self.object_key(upload_id))

    def start_multipart(self, upload_id: str) -> str:
        answer = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key(upload_id))
        return str(answer["UploadId"])

    def put_url(self, upload_id: str, ttl: int) -> str:
        url: str = self._client.generate_presigned_url(
            "put_object",
            Params={"Bucket": self._bucket, "Key": self._key(upload_id)},
            ExpiresIn=min(ttl, PRESIGN_MAX_SECONDS),
        )
        return url

    def part_url(self, upload_id: str, storage_upload_id: str, number: int, ttl: int) -> str:
        url: str = self._client.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self._bucket,
                "Key": self._key(upload_id),
                "UploadId": storage_upload_id,
                "PartNumber": number,
            },
            ExpiresIn=min(ttl, PRESIGN_MAX_SECONDS),
        )
        return url

    def parts(self, upload_id: str, storage_upload_id: str | None) -> dict[int, tuple[str, int]]:
        """What the bucket holds: part number -> (ETag, size); a single PUT is part 1."""
        if storage_upload_id is None:
            try:
                head = self._client.head_object(Bucket=self._bucket, Key=self._key(upload_id))
            except ClientError as error:
                if _code(error) in ("404", "NoSuchKey", "NotFound"):
                    return {}
                raise
            return {1: (str(head["ETag"]).strip('"'), int(head["ContentLength"]))}
        found: dict[int, tuple[str, int]] = {}
        try:
            pages = self._client.get_paginator("list_parts").paginate(
                Bucket=self._bucket, Key=self._key(upload_id), UploadId=storage_upload_id
            )
            for page in pages:
                for part in page.get("Parts", []):
                    found[int(part["PartNumber"])] = (
                        str(part["ETag"]).strip('"'),
                        int(part["Size"]),
                    )
        except ClientError as error:
            if _code(error) in ("NoSuchUpload", "404", "NotFound"):
                return {}
            raise
        return found

    def finish_multipart(self, upload_id: str, storage_upload_id: str, etags: list[str]) -> None:
        """Join the parts (numbered from 1, in order) into one object; ``ValueError`` if the
        bucket refuses them (a part too small or not the one listed: the bytes' fault). Other
        errors (the bucket unreachable) are raised as they are: the parts stay for a retry."""
        try:
            self._join(upload_id, storage_upload_id, etags)
        except ClientError as error:
            if _code(error) in REFUSED_PARTS:
                raise ValueError(f"the object store refused the parts: {error}") from error
            raise

    def _join(self, upload_id: str, storage_upload_id: str, etags: list[str]) -> None:
        self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._key(upload_id),
            UploadId=storage_upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": n, "ETag": f'"{etag}"'} for n, etag in enumerate(etags, 1)]
            },
        )

    def discard_parts(self, upload_id: str, storage_upload_id: str) -> None:
        """Abort the multipart upload: the parts not yet joined go."""
        with contextlib.suppress(ClientError):  # (already completed or aborted)
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._key(upload_id), UploadId=storage_upload_id
            )

    def discard(self, upload_id: str, storage_upload_id: str | None) -> None:
        """Abort the multipart upload and delete the object, if any."""
        if storage_upload_id is not None:
            self.discard_parts(upload_id, storage_upload_id)
        self._client.delete_object(Bucket=self._bucket, Key=self._key(upload_id))

    def _range(self, upload_id: str, start: int, end: int) -> bytes:
        answer = self._client.get_object(
            Bucket=self._bucket, Key=self._key(upload_id), Range=f"bytes={start}-{end - 1}"
        )
        body = answer["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        if len(data) != end - start:
            raise OSError(f"the bucket sent {len(data)} bytes for a range of {end - start}")
        return data

    def hash_object(self, upload_id: str) -> S3Staged:
        """Read the object once: its size, SHA-256 and first bytes (for the media check).

        Ranges are fetched ``RANGES_IN_FLIGHT`` at a time and hashed in order (a single
        stream read at about half the speed)."""
        head = self._client.head_object(Bucket=self._bucket, Key=self._key(upload_id))
        size = int(head["ContentLength"])
        digest = hashlib.sha256()
        first = b""
        bounds = [(at, min(at + RANGE_BYTES, size)) for at in range(0, size, RANGE_BYTES)]
        with ThreadPoolExecutor(RANGES_IN_FLIGHT, thread_name_prefix="scopix-hash") as pool:
            window: deque[Future[bytes]] = deque()
            for start, end in bounds:
                window.append(pool.submit(self._range, upload_id, start, end))
                if len(window) >= RANGES_IN_FLIGHT:
                    first = _hash_next(window, digest, first)
            while window:
                first = _hash_next(window, digest, first)
        return S3Staged(self, upload_id, size=size, sha256=digest.hexdigest(), head=first)


def _hash_next(window: deque[Future[bytes]], digest: Any, first: bytes) -> bytes:
    data = window.popleft().result()
    digest.update(data)
    return first or data[:HEAD_READ]


class S3Staged:
    """A direct upload's object, hashed: a ``PendingObject`` whose bytes are already written.

    ``commit`` keeps the object where it is (its key becomes the file's ``object_key``);
    ``abort`` leaves it to its upload: removed if the upload fails or turns out a duplicate,
    kept for another ``complete`` if it stopped for a reason that is not the bytes'.
    """

    shared = False  # (its key is its upload's own: it goes with the upload)

    def __init__(
        self,
        uploads: S3Uploads,
        upload_id: str,
        *,
        size: int,
        sha256: str,
        head: bytes,
    ) -> None:
        self._uploads = uploads
        self._upload_id = upload_id
        self.size = size
        self._sha256 = sha256
        self.head = head

    def write(self, chunk: bytes | memoryview) -> None:
        raise RuntimeError("a direct upload's object is already written")

    async def drain(self) -> None:
        return None

    async def finish(self) -> None:
        return None

    @property
    def sha256(self) -> str:
        return self._sha256

    @property
    def key(self) -> str:
        return self._uploads.object_key(self._upload_id)

    def open_written(self) -> BinaryIO:
        """A local copy of the bytes (only container checks need it), removed on close."""
        storage = self._uploads.storage
        handle: IO[bytes] = tempfile.TemporaryFile(dir=storage.tmp_dir)  # noqa: SIM115
        storage._client.download_fileobj(
            storage.bucket, self._uploads._key(self._upload_id), handle
        )
        handle.seek(0)
        return handle  # type: ignore[return-value]

    async def commit(self) -> str:
        return self.key

    async def abort(self) -> None:
        return None  # (the object goes with its upload: ``S3Staging.discard``)
